"""The measured side: one team's engine in its own process, ticking on request.

    python bench/child.py MAPPING STATE_DIR      (environment: REVOX_*, *_EMULATOR_HOST)

Like the daemon, it keeps one engine (and its source's cached metadata and sessions)
across ticks. It reads JSON commands on stdin, one a line:
``{"op": "tick", "profile": false}`` or ``{"op": "quit"}``, and answers each tick with
one JSON line on stdout: wall and CPU seconds of ``Engine.tick()``, this process's peak
RSS during the tick (VmHWM, reset before the tick through /proc/self/clear_refs), the
tick's summary and, when asked, the cProfile top 15 by cumulative time.
"""

from __future__ import annotations

import cProfile
import dataclasses
import io
import json
import logging
import os
import pstats
import sys
import time
from pathlib import Path
from typing import Any

from connector.loading import load_mapping
from connector.runtime import open_team


def _status_kb(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False when not possible."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
    except OSError:
        return False
    return True


def _profile_text(prof: cProfile.Profile, top: int = 15) -> str:
    """The top functions by cumulative time, then by own time (BENCH_PROFILE_TOP: more)."""
    top = int(os.environ.get("BENCH_PROFILE_TOP", top))
    parts = []
    for key in ("cumulative", "tottime"):
        out = io.StringIO()
        stats = pstats.Stats(prof, stream=out)
        shown = top if key == "cumulative" else max(10, top // 2)
        stats.strip_dirs().sort_stats(key).print_stats(shown)
        lines = out.getvalue().splitlines()
        start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
        total = next((line.strip() for line in lines[:start] if "function calls" in line), "")
        title = f"by {'cumulative' if key == 'cumulative' else 'own'} time"
        parts.append("\n".join([f"{title}: {total}", *lines[start:]]).rstrip())
    return "\n\n".join(parts)


def _profiler() -> cProfile.Profile:
    """Wall-clock profile by default; BENCH_PROFILE_CPU=1 counts CPU time only."""
    if os.environ.get("BENCH_PROFILE_CPU") == "1":
        return cProfile.Profile(time.process_time)
    return cProfile.Profile()


_STEPS: dict[str, float] = {}
_ACTIVE: set[str] = set()


def _timed(obj: object, name: str, label: str) -> None:
    """Wrap obj.name so that its CPU time adds up in _STEPS[label] (nested calls excluded)."""
    inner = getattr(obj, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if label in _ACTIVE:  # a step inside the same step (engine._submit -> journal.submit)
            return inner(*args, **kwargs)
        _ACTIVE.add(label)
        c0 = time.process_time()
        try:
            return inner(*args, **kwargs)
        finally:
            _STEPS[label] = _STEPS.get(label, 0.0) + time.process_time() - c0
            _STEPS[f"{label} peak MB"] = _status_kb("VmHWM") / 1024  # peak so far
            _ACTIVE.discard(label)

    setattr(obj, name, wrapper)


def _time_steps(engine: Any) -> None:
    """CPU seconds per step of the tick (BENCH_STEPS=1): one number each, no profiler."""
    _timed(engine, "_read", "read+classify+map")
    _timed(engine, "_assign_keys", "assign keys")
    _timed(engine, "_submit", "submit")
    _timed(engine.journal, "submit", "submit")
    _timed(engine.poller, "poll", "poll")
    _timed(engine.outbox, "flush", "write back")
    _timed(engine.source, "write_back", "of which source.write_back")


def main() -> int:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    mapping, state_dir = Path(sys.argv[1]), Path(sys.argv[2])
    team = open_team(load_mapping(mapping), state_dir, os.environ)
    engine = team.engine
    steps = os.environ.get("BENCH_STEPS") == "1"
    if steps:
        _time_steps(engine)
    print(json.dumps({"ready": True, "rss_mb": _status_kb("VmRSS") / 1024}), flush=True)
    for line in sys.stdin:
        cmd: dict[str, Any] = json.loads(line)
        if cmd.get("op") != "tick":
            break
        resettable = _reset_peak()
        rss0 = _status_kb("VmRSS")
        prof = _profiler() if cmd.get("profile") else None
        _STEPS.clear()
        if os.environ.get("BENCH_GC") == "off":
            import gc

            gc.disable()
        c0, t0 = time.process_time(), time.perf_counter()
        if prof is not None:
            prof.enable()
        summary = engine.tick()
        if prof is not None:
            prof.disable()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        answer = {
            "wall": wall,
            "cpu": cpu,
            "rss_before_mb": rss0 / 1024,
            "peak_mb": (_status_kb("VmHWM") if resettable else 0) / 1024,
            "summary": dataclasses.asdict(summary),
            "client_revox_requests": engine.revox.requests,
        }
        if prof is not None:
            answer["profile"] = _profile_text(prof)
            if dump := os.environ.get("BENCH_PROFILE_DUMP"):
                prof.dump_stats(dump)  # for pstats: callers, callees of one step
        if steps:
            answer["steps"] = dict(_STEPS)
        print(json.dumps(answer), flush=True)
    team.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
