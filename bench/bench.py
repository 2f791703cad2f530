"""End-to-end benchmarks of revox-sync against the local emulators (`make bench`).

    .venv/bin/python bench/bench.py [--quick] [--sizes 1000,10000] [--runs 3] [--no-1m]

For each source (CSV, Google Sheets, Salesforce) and size it starts the emulators in this
process, then runs one team's engine in a child process (``child.py``, kept across ticks
like the daemon) for three ticks: ``first`` (every row new), ``steady`` (nothing new, no
result changed) and ``results`` (10% of the rows got a new call result). Request counts
come from the emulators' logs; wall time, CPU time and peak RSS from the child. It also
measures mapping throughput in memory, a naive per-row baseline (``naive.py``), fits the
growth against rows, and profiles the slowest tick.

It prints one table; a full run (no --quick/--sizes) also rewrites the generated part of
BENCHMARKS.md and bench/scaling.png.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workload import (  # the bench folder is sys.path[0] when run as a script
    API_KEY,
    ROOT,
    SHEET_ID,
    WORKSHEET,
    mapping_yaml,
    phone_cell,
    prepare,
    results_advance,
    revox_counts,
    start_sandbox,
)

BENCH = Path(__file__).resolve().parent
REPORT = ROOT / "BENCHMARKS.md"
PLOT = BENCH / "scaling.png"
SAVED_1M = BENCH / "sf-1m.json"
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
# first: every row new; steady: nothing new, no result changed; results: 10% of the rows got
# a new result; cold: a steady tick in a new process (a restarted daemon, or `sync --once`).
TICKS = ("first", "steady", "results", "cold")
TICK_LABEL = {"cold": "steady, new process"}
SOURCES = ("csv", "sheets", "salesforce")
QUOTA_PER_MINUTE = 60  # Sheets: read and write requests per minute per user per project
SF_BATCH = 200  # sObject Collections records per request
MAX_CONTACTS = 500
MAX_CONTACTS_1M = 10_000  # 100 campaigns instead of 2000 for the 1M case (config max)
NAIVE_ROWS = 1000


# --- running ticks in a child process ------------------------------------------------------


@dataclass
class Tick:
    """One measured tick."""

    source: str
    variant: str  # "" or "keyed" (CSV or Sheets rows with their keys already filled)
    rows: int
    tick: str
    run: int
    wall: float
    cpu: float
    emu_cpu: float  # this process (the emulators) during the tick
    peak_mb: float
    rss_before_mb: float
    counts: dict[str, int]
    summary: dict[str, Any]
    max_contacts: int
    state_bytes: int = 0
    profile: str | None = None
    note: str = ""  # set on ticks loaded from an earlier, separate measurement

    @property
    def label(self) -> str:
        return self.source + (f" ({self.variant})" if self.variant else "")


class Child:
    """A child process running ``child.py``; one JSON line per tick."""

    def __init__(self, workdir: Path, env: dict[str, str], name: str = "child") -> None:
        self.log = (workdir / f"{name}.log").open("w")
        cmd = [
            sys.executable,
            str(BENCH / "child.py"),
            str(workdir / "team.yaml"),
            str(workdir / "state"),
        ]
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            env={**os.environ, **env},
            text=True,
            cwd=workdir,
        )
        self.ready = self._answer()

    def _answer(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait(timeout=10)
            self.log.flush()
            tail = Path(self.log.name).read_text()[-3000:]
            raise RuntimeError(f"the tick process died (exit {self.proc.returncode}):\n{tail}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def tick(self, *, profile: bool = False) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"op": "tick", "profile": profile}) + "\n")
        self.proc.stdin.flush()
        return self._answer()

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            with contextlib.suppress(BrokenPipeError):
                self.proc.stdin.write(json.dumps({"op": "quit"}) + "\n")
                self.proc.stdin.close()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def state_size(workdir: Path) -> int:
    return sum(p.stat().st_size for p in (workdir / "state").glob("bench.sqlite*"))


def run_scenario(
    source: str,
    rows: int,
    run: int,
    tmp: Path,
    *,
    variant: str = "",
    ticks: Sequence[str] = TICKS,
    max_contacts: int = MAX_CONTACTS,
    profile: str | None = None,
    steady_repeats: int = 1,
) -> list[Tick]:
    """Fresh emulators and state, one child, the given ticks in order.

    ``cold`` restarts the child first; ``steady`` is measured ``steady_repeats`` times.
    """
    workdir = Path(tempfile.mkdtemp(prefix=f"{source}-{rows}-", dir=tmp))
    env = prepare(source, rows, workdir, keyed=variant == "keyed", max_contacts=max_contacts)
    out: list[Tick] = []
    child: Child | None = None
    plan = [t for name in ticks for t in [name] * (steady_repeats if name == "steady" else 1)]
    try:
        child = Child(workdir, env.child_env())
        for i, name in enumerate(plan):
            if name == "results":
                env.sandbox.advance(results_advance(max_contacts))
            if name == "cold":
                child.close()
                child = Child(workdir, env.child_env(), f"child-{i}")
            env.source_counts(), revox_counts(env.sandbox)  # start each tick with empty logs
            e0 = time.process_time()
            ans = child.tick(profile=name == profile)
            emu_cpu = time.process_time() - e0
            counts = {**env.source_counts(), **revox_counts(env.sandbox)}
            print(
                f"         {name}: {ans['wall']:.2f} s wall, {ans['cpu']:.2f} s CPU, "
                f"peak {ans['peak_mb']:.0f} MB",
                flush=True,
            )
            if ans["summary"]["errors"]:
                print(f"  ! {source} {rows} {name}: {ans['summary']['errors'][:3]}", flush=True)
            out.append(
                Tick(
                    source, variant, rows, name, run, ans["wall"], ans["cpu"], emu_cpu,
                    ans["peak_mb"], ans["rss_before_mb"], counts, ans["summary"], max_contacts,
                    profile=ans.get("profile"),
                )
            )  # fmt: skip
    finally:
        if child is not None:
            child.close()
        env.stop()
    size = state_size(workdir)
    shutil.rmtree(workdir, ignore_errors=True)
    for t in out:
        t.state_bytes = size
    return out


# --- mapping throughput, in memory, one core -----------------------------------------------


@dataclass
class Rate:
    what: str
    rows: int
    rates: list[float]  # rows per CPU second, one per run

    @property
    def median(self) -> float:
        return statistics.median(self.rates)


def measure_mapping(sizes: Sequence[int], runs: int, big_runs: int, tmp: Path) -> list[Rate]:
    """map_row alone, then classify (map_row + state lookups) over new rows in memory."""
    from adapters.base import Row
    from connector.classify import classify
    from connector.loading import load_mapping
    from connector.mapping import map_row, resolve
    from connector.state import StateStore

    path = tmp / "mapping" / "team.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(mapping_yaml("csv", max_contacts=MAX_CONTACTS))
    rm = resolve(load_mapping(path).mapping, ["Name", "Company", "Phone", "Revox ID"], "bench")
    out: list[Rate] = []
    for n in sizes:
        rows = [
            Row(
                f"k{i:07d}", {"Name": f"Name{i}", "Company": "Acme", "Phone": str(phone_cell(i))}, i
            )
            for i in range(n)
        ]
        for row in rows[:200]:  # warm-up: phonenumbers loads its metadata on first use
            map_row(rm, row)
        mapped, classified = Rate("map_row", n, []), Rate("classify", n, [])
        for run in range(runs if n < 100_000 else max(big_runs, 2)):
            c0 = time.process_time()
            for row in rows:
                map_row(rm, row)
            mapped.rates.append(n / (time.process_time() - c0))
            with StateStore(tmp / "mapping" / f"state-{n}-{run}.sqlite") as state:
                c0 = time.process_time()
                done = sum(1 for c in classify(rm, rows, state) if c.status == "new")
                classified.rates.append(n / (time.process_time() - c0))
                assert done == n, done
        out += [mapped, classified]
    return out


# --- floor(N) and the dry run, each in a fresh process ----------------------------------------

FLOORS: dict[int, dict[str, float]] = {}  # rows -> {"cpu", "wall"} of bench/floor.py
DRY_RUNS: list[dict[str, Any]] = []  # `sync --once --dry-run` of a CSV, start-up included
SAVED_FLOORS: set[int] = set()  # floors read back with the ticks of a separate run (--sf-1m)


def measure_floor(rows: int, tmp: Path, runs: int = 3) -> dict[str, float]:
    """phonenumbers alone over the N phone cells of the CSV workload (floor.py), best of
    ``runs`` fresh processes (wall: the whole process, as seen from here)."""
    from workload import write_csv

    path = tmp / f"floor-{rows}.csv"
    write_csv(path, rows)
    best: dict[str, float] | None = None
    for _ in range(runs):
        t0 = time.perf_counter()
        out = subprocess.run(
            [sys.executable, str(BENCH / "floor.py"), str(path)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        wall = time.perf_counter() - t0
        got = json.loads(out.stdout)
        assert got["valid"] == rows, got
        m = {"cpu": float(got["cpu"]), "wall": wall}
        if best is None or m["cpu"] < best["cpu"]:
            best = m
    path.unlink()
    assert best is not None
    FLOORS[rows] = best
    return best


def measure_dry_run(rows: int, tmp: Path, runs: int = 3) -> dict[str, Any]:
    """`revox-sync sync bench --once --dry-run` over a fresh CSV of ``rows`` rows: the whole
    process (interpreter start-up, imports, reading and mapping every row), best of runs."""
    workdir = Path(tempfile.mkdtemp(prefix=f"dry-{rows}-", dir=tmp))
    env = prepare("csv", rows, workdir, keyed=False, max_contacts=MAX_CONTACTS)
    exe = Path(sys.executable).with_name("revox-sync")
    cmd = [str(exe), "--mappings", str(workdir / "team.yaml"), "--state-dir",
           str(workdir / "state"), "sync", "bench", "--once", "--dry-run"]  # fmt: skip
    walls = []
    try:
        for _ in range(runs):
            t0 = time.perf_counter()
            subprocess.run(
                cmd, capture_output=True, text=True, check=True, cwd=workdir,
                env={**os.environ, **env.child_env()},
            )  # fmt: skip
            walls.append(time.perf_counter() - t0)
    finally:
        env.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    out = {"rows": rows, "wall": min(walls), "rate": rows / min(walls)}
    DRY_RUNS.append(out)
    return out


def floor_of(rows: int) -> dict[str, float] | None:
    return FLOORS.get(rows)


def ratio(t_cpu: float, rows: int) -> str:
    f = floor_of(rows)
    return f"{t_cpu / f['cpu']:.2f}×" if f else ""


# --- the naive baseline -------------------------------------------------------------------


def run_naive(rows: int) -> dict[str, Any]:
    """first / results (all rows changed) / steady / results (10% changed), at ``rows``."""
    from naive import NaiveSync, NaiveTick

    from emulators.sheets import SheetsEmulator

    sb = start_sandbox()
    emu = SheetsEmulator().start()
    # The same rows as revox-sync's keyless Sheets workload.
    from workload import sheet_rows

    emu.add_spreadsheet(SHEET_ID, {WORKSHEET: sheet_rows(rows, keyed=False)})
    naive = NaiveSync(emu.url, SHEET_ID, WORKSHEET, sb.url, API_KEY)
    ticks: dict[str, NaiveTick] = {}
    try:
        ticks["first"] = naive.tick()
        sb.advance(10**7)  # every single-contact campaign is final
        ticks["results_all"] = naive.tick()
        ticks["steady"] = naive.tick()
        # 10% of the rows got a result since the last tick: put their earlier status back.
        grid = emu.grid(SHEET_ID, WORKSHEET)
        col = grid[0].index("Revox status") + 1
        for line in range(2, rows + 2, 10):
            emu.set_cell(SHEET_ID, WORKSHEET, line, col, "calling")
        ticks["results"] = naive.tick()
    finally:
        naive.close()
        emu.stop()
        sb.stop()
    return {k: v.__dict__ for k, v in ticks.items()}


# --- statistics and the table -------------------------------------------------------------


def med(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def spread(values: Sequence[float]) -> str:
    """(max - min) / median, the noise across runs."""
    if len(values) < 2:
        return "1 run"
    m = med(values)
    return f"±{(max(values) - min(values)) / 2 / m * 100:.0f}%" if m else "±0%"


def fmt_s(x: float) -> str:
    return f"{x:.3f}" if x < 1 else f"{x:.2f}" if x < 100 else f"{x:.0f}"


def groups(ticks: Sequence[Tick]) -> dict[tuple[str, str, int, str], list[Tick]]:
    out: dict[tuple[str, str, int, str], list[Tick]] = {}
    for t in ticks:
        out.setdefault((t.source, t.variant, t.rows, t.tick), []).append(t)
    return out


def sort_key(key: tuple[str, str, int, str], order: dict[str, int]) -> tuple[int, str, int, int]:
    source, variant, rows, tick = key
    return order[source], variant, rows, TICKS.index(tick)


def count(ts: Sequence[Tick], name: str) -> str:
    values = sorted({t.counts[name] for t in ts})
    return f"{values[0]:,}" if len(values) == 1 else f"{values[0]:,}–{values[-1]:,}"


def quota_minutes(reads: float, writes: float) -> float:
    return max(reads, writes) / QUOTA_PER_MINUTE


@dataclass
class Table:
    head: list[str]
    rows: list[list[str]] = field(default_factory=list)

    def markdown(self) -> str:
        widths = [max(len(r[i]) for r in [self.head, *self.rows]) for i in range(len(self.head))]

        def line(cells: Sequence[str]) -> str:
            return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

        sep = "| " + " | ".join("-" * w for w in widths) + " |"
        return "\n".join([line(self.head), sep, *(line(r) for r in self.rows)])


def main_table(ticks: Sequence[Tick], naive: dict[str, Any] | None) -> Table:
    table = Table(
        [
            "source", "rows", "tick", "wall s", "CPU s", "× floor", "emu CPU s",
            "peak RSS MB (+in tick)",
            "src reads", "src writes", "quota min", "Revox creates", "Revox GETs",
            "rows written",
        ]
    )  # fmt: skip
    order = {s: i for i, s in enumerate(SOURCES)}
    for key, ts in sorted(groups(ticks).items(), key=lambda kv: sort_key(kv[0], order)):
        source, _variant, rows, tick = key
        walls = [t.wall for t in ts]
        sheets = source == "sheets"
        reads, writes = (
            med([t.counts["src_reads"] for t in ts]),
            med([t.counts["src_writes"] for t in ts]),
        )
        table.rows.append(
            [
                ts[0].label,
                f"{rows:,}" + (" †" if any(t.note for t in ts) else ""),
                TICK_LABEL.get(tick, tick),
                f"{fmt_s(med(walls))} {spread(walls)}",
                fmt_s(med([t.cpu for t in ts])),
                ratio(med([t.cpu for t in ts]), rows),
                fmt_s(med([t.emu_cpu for t in ts])),
                f"{med([t.peak_mb for t in ts]):,.0f} "
                f"({max(0.0, med([t.peak_mb - t.rss_before_mb for t in ts])):+,.0f})",
                count(ts, "src_reads") if source != "csv" else "file",
                count(ts, "src_writes") if source != "csv" else "file",
                f"{quota_minutes(reads, writes):.2f}" if sheets else "",
                count(ts, "revox_creates"),
                f"{med([t.counts['revox_total'] - t.counts['revox_creates'] for t in ts]):,.0f}",
                f"{med([t.summary['results_written'] for t in ts]):,.0f}",
            ]
        )
    if naive is not None:
        n = naive["rows"]
        for name in ("first", "steady", "results"):
            nt = naive["ticks"][name]
            for rows in naive["sizes"]:
                k = rows / n
                r, w = nt["sheets_reads"] * k, nt["sheets_writes"] * k
                measured = rows == n
                table.rows.append(
                    [
                        "sheets (naive)" + ("" if measured else " extrapolated"),
                        f"{rows:,}",
                        name,
                        fmt_s(nt["wall"] * k) + ("" if measured else "*"),
                        "",
                        "",
                        "",
                        "",
                        f"{r:,.0f}",
                        f"{w:,.0f}",
                        f"{quota_minutes(r, w):,.0f}",
                        f"{nt['revox_creates'] * k:,.0f}",
                        f"{nt['revox_gets'] * k:,.0f}",
                        f"{nt['results_written'] * k:,.0f}",
                    ]
                )
    return table


# --- targets, fits, plot ------------------------------------------------------------------


def updates_of(t: Tick) -> int:
    """Rows written back in a tick: every submitted row and every changed result."""
    return max(int(t.summary["submitted"]), int(t.summary["results_written"]))


def fit(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float, float]:
    """Least-squares line y = a x + b and its r^2."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    a = sxy / sxx if sxx else 0.0
    b = my - a * mx
    ss_tot = sum((y - my) ** 2 for y in ys)
    ss_res = sum((y - (a * x + b)) ** 2 for x, y in zip(xs, ys, strict=True))
    return a, b, (1 - ss_res / ss_tot) if ss_tot else 1.0


def series(ticks: Sequence[Tick]) -> dict[tuple[str, str], list[tuple[int, float, float]]]:
    """(source, tick) -> [(rows, median wall, median peak MB)] over the plain variants."""
    out: dict[tuple[str, str], list[tuple[int, float, float]]] = {}
    order = {s: i for i, s in enumerate(SOURCES)}
    for (source, variant, rows, tick), ts in sorted(
        groups(ticks).items(), key=lambda kv: (order[kv[0][0]], TICKS.index(kv[0][3]), kv[0][2])
    ):
        if variant:
            continue
        out.setdefault((source, tick), []).append(
            (rows, med([t.wall for t in ts]), med([t.peak_mb for t in ts]))
        )
    return out


def fit_table(ticks: Sequence[Tick]) -> Table:
    table = Table(
        [
            "source", "tick", "sizes", "time slope ms/1k rows", "time r²",
            "memory slope MB/100k rows", "memory r²",
        ]
    )  # fmt: skip
    for (source, tick), pts in series(ticks).items():
        if len(pts) < 2:
            continue
        xs = [float(p[0]) for p in pts]
        a, _b, r2 = fit(xs, [p[1] for p in pts])
        ma, _mb, mr2 = fit(xs, [p[2] for p in pts])
        table.rows.append(
            [
                source, TICK_LABEL.get(tick, tick), ", ".join(f"{int(x):,}" for x in xs),
                f"{a * 1e6:.1f}",
                f"{r2:.3f}", f"{ma * 1e5:.1f}", f"{mr2:.2f}",
            ]
        )  # fmt: skip
    return table


def plot(ticks: Sequence[Tick], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(12, 4.8))
    styles = {"first": "o-", "steady": "s--", "results": "^:", "cold": "d-."}
    colors = {"csv": "tab:green", "sheets": "tab:blue", "salesforce": "tab:red"}
    for (source, tick), pts in series(ticks).items():
        xs = [p[0] for p in pts]
        label = f"{source} {TICK_LABEL.get(tick, tick)}"
        ax_t.plot(xs, [p[1] for p in pts], styles[tick], color=colors[source], label=label)
        ax_m.plot(xs, [p[2] for p in pts], styles[tick], color=colors[source], label=label)
    for ax, title, unit in (
        (ax_t, "tick wall time (median)", "seconds"),
        (ax_m, "peak RSS of the tick process", "MB"),
    ):
        ax.set_xscale("log")
        ax.set_xlabel("rows")
        ax.set_ylabel(unit)
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
    ax_t.set_yscale("log")
    ax_m.set_yscale("log")
    ax_t.legend(fontsize=7, ncol=3, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def check(ok: bool | None) -> str:
    return "info" if ok is None else "met" if ok else "NOT met"


def rw(ts: Sequence[Tick]) -> str:
    """The reads/writes seen over some ticks, e.g. "1/0" or "4/1, 5/2"."""
    return ", ".join(sorted({f"{t.counts['src_reads']}/{t.counts['src_writes']}" for t in ts}))


def targets(ticks: Sequence[Tick], rates: Sequence[Rate]) -> Table:
    """Issue 12's targets, each as a ratio to floor(N) measured in the same run."""
    table = Table(["target", "measured", "status"])
    g = groups(ticks)

    def add(target: str, measured: str, ok: bool | None) -> None:
        table.rows.append([target, measured, check(ok)])

    def where(source: str, tick: str, variant: str = "") -> list[Tick]:
        return [t for t in ticks if (t.source, t.tick, t.variant) == (source, tick, variant)]

    def times(source: str, rows: int, tick: str, variant: str = "") -> tuple[float, float] | None:
        """(median CPU / floor CPU, median CPU) of one case, None when not measured."""
        ts = g.get((source, variant, rows, tick))
        f = floor_of(rows)
        if not ts or f is None:
            return None
        cpu = med([t.cpu for t in ts])
        return cpu / f["cpu"], cpu

    for rows in sorted(FLOORS):
        f = FLOORS[rows]
        origin = " († the --sf-1m run's own)" if rows in SAVED_FLOORS else ""
        add(f"floor({rows:,}): phonenumbers alone, fresh process{origin}", f"{f['cpu']:.2f} s "
            f"CPU, {f['wall']:.2f} s wall ({rows / f['wall']:,.0f} rows/s)", None)  # fmt: skip
    big = [r for r in sorted(FLOORS) if r >= 100_000] or sorted(FLOORS)[-1:]
    for rows in big:
        for source in SOURCES:
            # the target is for rows whose keys are present (Salesforce: the record Ids);
            # CSV and Sheets rows without keys also pay for writing the keys first (info)
            for variant in ("keyed", "") if source != "salesforce" else ("",):
                got = times(source, rows, "first", variant)
                if got is None:
                    continue
                emu = med([t.emu_cpu for t in g[(source, variant, rows, "first")]])
                extra = "" if source == "csv" else f" (+ emulators' {emu:.1f} s not counted)"
                keys = "keys present" if variant or source == "salesforce" else "keyless, info"
                add(
                    f"{source} first tick ({keys}) at {rows:,} ≤ 2 × floor",
                    f"{got[0]:.2f} × floor ({got[1]:.2f} s CPU){extra}",
                    got[0] <= 2 if keys == "keys present" else None,
                )
        for tick, limit, what in (
            ("steady", 0.25, "steady"),
            ("cold", 0.25, "steady, new process"),
            ("results", 0.5, "results (10% changed)"),
        ):
            for source in SOURCES:
                got = times(source, rows, tick)
                if got is not None:
                    add(
                        f"{source} {what} tick at {rows:,} ≤ {limit} × floor",
                        f"{got[0]:.2f} × floor ({got[1]:.2f} s CPU)",
                        got[0] <= limit,
                    )
    for d in DRY_RUNS:
        f = floor_of(d["rows"])
        if f is not None:
            floor_rate = d["rows"] / f["wall"]
            add(
                f"dry run incl. start-up at {d['rows']:,} ≥ 0.8 × floor's rate",
                f"{d['rate']:,.0f} rows/s ({d['wall']:.2f} s) = {d['rate'] / floor_rate:.2f} × "
                f"{floor_rate:,.0f} rows/s",
                d["rate"] >= 0.8 * floor_rate,
            )
    for source in SOURCES:
        for rows, limit in ((100_000, 300), (1_000_000, 400)):
            ts = [t for t in ticks if (t.source, t.rows, t.variant) == (source, rows, "")]
            if ts:
                peak = max(ts, key=lambda t: t.peak_mb)
                add(
                    f"{source} peak RSS at {rows:,} ≤ {limit} MB (every tick)",
                    f"{peak.peak_mb:,.0f} MB ({TICK_LABEL.get(peak.tick, peak.tick)} tick)",
                    peak.peak_mb <= limit,
                )
    first = where("sheets", "first")
    if first:
        ok = all(t.counts["src_reads"] <= 4 and t.counts["src_writes"] <= 2 for t in first)
        add("Sheets keyless first tick ≤ 4 reads + 2 writes (reads/writes)", rw(first), ok)
    others = [t for t in ticks if t.source == "sheets" and t not in first]
    if others:
        once = {"cold": 1}  # the spreadsheet metadata, read once per process
        ok = all(
            t.counts["src_reads"] - once.get(t.tick, 0 if t.tick != "first" else 1) <= 2
            and t.counts["src_writes"] <= 1
            for t in others
        )
        add("Sheets any other tick ≤ 2 reads + 1 write (+1 metadata read per process)",
            rw(others), ok)  # fmt: skip
    cold = where("sheets", "cold")
    if cold:
        ok = all((t.counts["src_reads"], t.counts["src_writes"]) == (2, 0) for t in cold)
        add("Sheets steady tick in a new process = 1 metadata + 1 values read", rw(cold), ok)
    sf = [t for t in ticks if t.source == "salesforce"]
    if sf:
        ok = all(t.counts["src_writes"] == math.ceil(updates_of(t) / SF_BATCH) for t in sf)
        shown = []
        for tick in ("first", "results"):
            pairs = sorted({(updates_of(t), t.counts["src_writes"]) for t in sf if t.tick == tick})
            shown.append(f"{tick}: " + ", ".join(f"{u:,} → {w:,}" for u, w in pairs))
        add("Salesforce writes = ceil(updates / 200) (updates → writes)", "; ".join(shown), ok)
    firsts = [t for t in ticks if t.tick == "first"]
    if firsts:
        ok = all(
            t.counts["revox_creates"] == math.ceil(t.summary["new"] / t.max_contacts)
            for t in firsts
        )
        shown_rx = sorted({(t.summary["new"], t.max_contacts, t.counts["revox_creates"])
                           for t in firsts})  # fmt: skip
        add(
            "Revox creates = ceil(new / max_contacts) (new / max_contacts → creates)",
            "; ".join(f"{n:,} / {m:,} → {c:,}" for n, m, c in shown_rx),
            ok,
        )
    steady = [t for t in ticks if t.tick in ("steady", "cold")]
    if steady:
        ok = all(t.counts["revox_pages"] == 0 for t in steady)
        add(
            "Revox steady tick: no rows page read (only open campaigns' summaries)",
            ", ".join(sorted({f"{t.counts['revox_gets']} GETs, {t.counts['revox_pages']} pages"
                              for t in steady if t.rows == max(x.rows for x in steady)})),
            ok,
        )  # fmt: skip
    maps = [r for r in rates if r.what == "map_row"]
    if maps:
        add(
            "mapping new rows (map_row, in memory, one core)",
            ", ".join(f"{r.rows:,}: {r.median:,.0f}/s" for r in maps),
            None,
        )
    return table


def naive_table(ticks: Sequence[Tick], naive: dict[str, Any]) -> Table:
    """Requests and Sheets quota minutes, revox-sync against the naive script."""
    table = Table(
        [
            "rows", "tick", "revox-sync reads/writes", "naive reads/writes",
            "write ratio", "quota minutes revox-sync", "quota minutes naive",
        ]
    )  # fmt: skip
    g = groups(ticks)
    n = naive["rows"]
    for rows in naive["sizes"]:
        for name in ("first", "steady", "results"):
            ours = g.get(("sheets", "", rows, name))
            if not ours:
                continue
            r = med([t.counts["src_reads"] for t in ours])
            w = med([t.counts["src_writes"] for t in ours])
            nt = naive["ticks"][name]
            k = rows / n
            nr, nw = nt["sheets_reads"] * k, nt["sheets_writes"] * k
            table.rows.append(
                [
                    f"{rows:,}" + ("" if rows == n else "*"),
                    name,
                    f"{r:.0f} / {w:.0f}",
                    f"{nr:,.0f} / {nw:,.0f}",
                    f"{nw / w:,.0f}x" if w else ("0 vs 0" if not nw else "∞"),
                    f"{quota_minutes(r, w):.2f}",
                    f"{quota_minutes(nr, nw):,.0f}",
                ]
            )
    return table


# --- the report ---------------------------------------------------------------------------


def machine() -> dict[str, str]:
    model = "unknown"
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    try:
        import psutil

        mem = f"{psutil.virtual_memory().total / 2**30:.1f} GiB"
    except ImportError:
        mem = "unknown"
    return {
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
        "memory": mem,
    }


def slowest(ticks: Sequence[Tick]) -> Tick:
    return max(ticks, key=lambda t: t.wall)


def report(
    ticks: Sequence[Tick],
    rates: Sequence[Rate],
    naive: dict[str, Any] | None,
    profiled: Tick | None,
    info: dict[str, Any],
) -> str:
    m = info["machine"]
    saved = info.get("saved_1m")
    parts = [
        f"Last run: {info['date']}, `make bench`, {info['elapsed'] / 60:.1f} minutes; "
        f"runs per size: {info['runs']} below 100k, {info['big_runs']} at 100k (its steady "
        "tick measured 3 times in a row).",
        "",
        f"Machine: **{m['nproc']} CPUs** (nproc), **{m['cpu']}**, {m['memory']} RAM, "
        f"{m['os']}, **Python {m['python']}**; shared with other work "
        f"(load average {info['load']} when the run started).",
        "",
    ]
    if saved:
        sm = saved["machine"]
        parts += [
            f"† Salesforce 1,000,000 records: measured once, separately, on {saved['date']} "
            f"with `bench.py --sf-1m` ({saved['elapsed'] / 60:.1f} minutes, too long for the "
            f"15-minute budget; same machine: {sm['nproc']} CPUs, {sm['cpu']}, Python "
            f"{sm['python']}), read back from `bench/sf-1m.json`. It uses `max_contacts: "
            f"{MAX_CONTACTS_1M:,}` (100 campaigns instead of 2,000). Its ticks are divided by "
            "the floor(1,000,000) that run measured (the machine's speed drifts between runs).",
            "",
        ]
    parts += [
        "### All ticks",
        "",
        main_table(ticks, naive).markdown(),
        "",
        "- **wall s**: median ± half the range over the runs. **CPU s**: the tick process's "
        "own CPU time (`Engine.tick()` only). **emu CPU s**: the emulators' CPU time during the "
        "tick (the bench process); wall minus both is mostly waiting for a CPU on this shared "
        "machine.",
        "- **peak RSS**: the tick process's VmHWM, reset just before the tick; in brackets what "
        "the tick added to the RSS it started with (a long-lived process keeps the memory a "
        "previous tick grew to).",
        "- **src reads / writes**: Google Sheets GET / POST requests; Salesforce requests "
        "(login, describe, query pages) / sObject Collections calls; CSV: one file read / one "
        "rewrite. **quota min**: minutes of the 60-requests-per-minute per-user Sheets quota "
        "the tick needs (the larger of reads and writes, divided by 60).",
        "- **Revox GETs**: campaign polls plus rows pages (200 rows a page). **rows written**: "
        "rows whose result changed (`results_written`).",
        f"- `*`: the naive script, measured at {NAIVE_ROWS:,} rows and extrapolated linearly "
        "(its requests are per row).",
        "",
        "### Targets",
        "",
        targets(ticks, rates).markdown(),
        "",
        "### Mapping throughput (in memory, one core)",
        "",
        "Rows per CPU second, median over the runs; `classify` is `map_row` plus the state "
        "lookups (an empty state: every row is new). Every third phone is stored as a number "
        "(`33600000123`), the others as `06 00 00 01 23`.",
        "",
    ]
    rate_table = Table(["function", "rows", "rows/s", "spread"])
    for r in rates:
        rate_table.rows.append([r.what, f"{r.rows:,}", f"{r.median:,.0f}", spread(r.rates)])
    parts += [rate_table.markdown(), ""]
    if naive is not None:
        parts += [
            "### Naive baseline vs revox-sync (Google Sheets, same rows, same run)",
            "",
            naive_table(ticks, naive).markdown(),
            "",
            "With 10,000 results (the results tick at 100,000 rows) the naive script needs "
            + naive_results_sentence(ticks, naive),
            "",
        ]
    parts += [
        "### Scaling",
        "",
        "![tick time and peak memory against rows](bench/scaling.png)",
        "",
        "Least-squares line through the medians (time: ms per 1,000 rows; memory: MB per "
        "100,000 rows of peak RSS):",
        "",
        fit_table(ticks).markdown(),
        "",
        "State file size per row after the four ticks (the SQLite file keeps the pages the "
        "emptied outbox used): "
        + ", ".join(
            f"{src} {rows:,}: {med([t.state_bytes for t in ts]) / rows:,.0f} B"
            for (src, variant, rows, tick), ts in sorted(groups(ticks).items())
            if tick == "results" and not variant
        )
        + ".",
        "",
    ]
    if profiled is not None and profiled.profile:
        which = "the slowest measured tick" + (
            f" at a smaller size (the {profiled.note} would not fit the time budget)"
            if profiled.note
            else ""
        )
        parts += [
            f"### Profile: {profiled.label}, {profiled.rows:,} rows, "
            f"{TICK_LABEL.get(profiled.tick, profiled.tick)} tick",
            "",
            f"{which[0].upper()}{which[1:]}, run once more under cProfile counting CPU time "
            "(time.process_time: waiting for the emulators is not in it; pure-Python code is "
            f"inflated about 2-3x by the profiler) ({profiled.wall:.1f} s wall, "
            f"{profiled.cpu:.1f} s CPU with the profiler on):",
            "",
            "```",
            profiled.profile,
            "```",
            "",
        ]
    return "\n".join(parts)


def naive_results_sentence(ticks: Sequence[Tick], naive: dict[str, Any]) -> str:
    nt = naive["ticks"]["results"]
    k = 100_000 / naive["rows"]
    nr, nw = nt["sheets_reads"] * k, nt["sheets_writes"] * k
    ours = groups(ticks).get(("sheets", "", 100_000, "results"))
    if not ours:
        return f"{nw:,.0f} writes and {nr:,.0f} reads per tick."
    r = med([t.counts["src_reads"] for t in ours])
    w = med([t.counts["src_writes"] for t in ours])
    return (
        f"{nw:,.0f} writes ({nw / QUOTA_PER_MINUTE:,.0f} minutes of the write quota) and "
        f"{nr:,.0f} reads ({nr / QUOTA_PER_MINUTE:,.0f} minutes of the read quota) per tick; "
        f"revox-sync needs {w:.0f} write and {r:.0f} reads ({max(r, w) / QUOTA_PER_MINUTE * 60:.0f}"
        " seconds of quota)."
    )


def write_report(body: str) -> None:
    text = REPORT.read_text() if REPORT.exists() else "# Benchmarks\n\n" + BEGIN + "\n" + END + "\n"
    if BEGIN not in text or END not in text:
        text = text.rstrip() + "\n\n" + BEGIN + "\n" + END + "\n"
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    REPORT.write_text(head + BEGIN + "\n" + body.rstrip() + "\n" + END + tail)


# --- main ---------------------------------------------------------------------------------


def parse_sizes(text: str) -> list[int]:
    out = []
    for part in text.split(","):
        part = part.strip().lower().replace("_", "")
        mult = {"k": 1000, "m": 1_000_000}.get(part[-1:], 1)
        out.append(int(float(part.rstrip("km")) * mult))
    return out


def progress(msg: str, t0: float) -> None:
    print(f"[{time.monotonic() - t0:6.0f}s] {msg}", flush=True)


def tick_from(data: dict[str, Any], note: str) -> Tick:
    fields = {k: v for k, v in data.items() if k in Tick.__dataclass_fields__}
    return Tick(**{**fields, "note": note, "profile": None})


def load_saved_1m() -> tuple[list[Tick], dict[str, Any] | None]:
    """The 1M Salesforce ticks measured by an earlier ``--sf-1m`` run, if any, with the
    floor(1M) that run measured: their ratios compare figures of one run (the machine's
    speed drifts between runs by more than the gaps between targets)."""
    if not SAVED_1M.exists():
        return [], None
    saved = json.loads(SAVED_1M.read_text())
    note = f"measured separately on {saved['info']['date']} (`bench.py --sf-1m`)"
    ticks = [tick_from(t, note) for t in saved["ticks"]]
    for rows, floor in (saved.get("floors") or {}).items():
        if int(rows) in {t.rows for t in ticks}:
            FLOORS[int(rows)] = {"cpu": float(floor["cpu"]), "wall": float(floor["wall"])}
            SAVED_FLOORS.add(int(rows))
    return ticks, saved["info"]


def run_1m(t0: float, tmp: Path) -> list[Tick]:
    progress("salesforce 1,000,000 records, once (max_contacts 10,000)", t0)
    return run_scenario("salesforce", 1_000_000, 0, tmp, max_contacts=MAX_CONTACTS_1M)


def profile_slowest(ticks: Sequence[Tick], tmp: Path, t0: float, budget_s: float) -> Tick | None:
    """Run the slowest tick's scenario again with cProfile on that tick.

    When that would overrun the budget, profile the same tick at the largest size that fits.
    """
    own = [t for t in ticks if not t.note]
    if not own:
        return None
    worst = slowest(own)
    wanted = TICKS[: TICKS.index(worst.tick) + 1]
    g = groups(own)
    candidates = sorted(
        {
            rows
            for (src, var, rows, tick) in g
            if (src, var, tick) == (worst.source, worst.variant, worst.tick)
        },
        reverse=True,
    )
    left = budget_s - (time.monotonic() - t0)
    for rows in candidates:
        # the ticks before it plus the profiled one, ~1.5x slower under cProfile
        cost = (
            sum(
                med([t.wall for t in g[(worst.source, worst.variant, rows, name)]])
                for name in wanted
                if (worst.source, worst.variant, rows, name) in g
            )
            * 1.5
            + 10
        )
        if cost < left:
            progress(f"profiling {worst.label} {rows:,} rows, {worst.tick} tick", t0)
            os.environ["BENCH_PROFILE_CPU"] = "1"  # the targets are CPU: so is the profile
            again = run_scenario(
                worst.source, rows, -1, tmp, variant=worst.variant, ticks=wanted,
                max_contacts=worst.max_contacts, profile=worst.tick,
            )  # fmt: skip
            prof = again[-1]
            prof.note = "" if rows == worst.rows else f"slowest tick: {worst.rows:,} rows"
            return prof
    return None


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="1k and 10k rows only")
    ap.add_argument("--sizes", type=parse_sizes, help="comma-separated sizes, e.g. 1k,10k,100k")
    ap.add_argument("--runs", type=int, default=3, help="runs per size below 100k (default 3)")
    ap.add_argument(
        "--big-runs", type=int, default=1,
        help="runs per size from 100k (default 1, with its steady tick measured 3 times)",
    )  # fmt: skip
    ap.add_argument("--sources", default=",".join(SOURCES), help="csv,sheets,salesforce")
    flag = argparse.BooleanOptionalAction
    ap.add_argument(
        "--sf-1m", action="store_true",
        help=f"only the 1M-record Salesforce ticks, once; saved to {SAVED_1M.relative_to(ROOT)} "
        "and included in later full runs",
    )  # fmt: skip
    ap.add_argument("--naive", action=flag, default=True, help="the naive baseline (on)")
    ap.add_argument("--profile", action=flag, default=True, help="profile the slowest tick (on)")
    ap.add_argument("--budget", type=float, default=13.0, help="minutes (decides the profile)")
    ap.add_argument(
        "--report", action=flag, help="rewrite BENCHMARKS.md and bench/scaling.png (full run: on)"
    )
    ap.add_argument("--json", type=Path, help="also dump every measurement here")
    args = ap.parse_args(argv)
    full = not args.quick and args.sizes is None and not args.sf_1m
    sizes: list[int] = args.sizes or ([1000, 10_000] if args.quick else [1000, 10_000, 100_000])
    write = full if args.report is None else args.report
    sources = [s.strip() for s in args.sources.split(",") if s.strip()]
    t0 = time.monotonic()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    ticks: list[Tick] = []
    rates: list[Rate] = []
    naive: dict[str, Any] | None = None
    profiled: Tick | None = None
    saved_info: dict[str, Any] | None = None
    with tempfile.TemporaryDirectory(prefix="revox-bench-") as tmp_name:
        tmp = Path(tmp_name)
        if args.sf_1m:
            ticks = run_1m(t0, tmp)
        else:
            for rows in sizes:
                progress(f"floor({rows:,}): phonenumbers alone in a fresh process", t0)
                measure_floor(rows, tmp)
            dry = max([n for n in sizes if n <= 100_000], default=None)
            if dry is not None and "csv" in sources:
                progress(f"csv {dry:,} rows: sync --once --dry-run, start-up included", t0)
                measure_dry_run(dry, tmp)
            progress("mapping throughput", t0)
            rates = measure_mapping(
                [n for n in sizes if n <= 100_000], args.runs, args.big_runs, tmp
            )
            small = [n for n in sizes if n < 100_000]
            big = [n for n in sizes if n >= 100_000]
            plan = [(run, n) for run in range(args.runs) for n in small]
            plan += [(run, n) for run in range(args.big_runs) for n in big]
            for run, rows in plan:
                repeats = 3 if rows >= 100_000 and args.big_runs == 1 else 1
                for source in sources:
                    if source == "salesforce" and rows >= 1_000_000:
                        ticks += run_1m(t0, tmp)
                        continue
                    progress(f"run {run + 1}: {source} {rows:,} rows", t0)
                    ticks += run_scenario(source, rows, run, tmp, steady_repeats=repeats)
                    if source in ("csv", "sheets"):  # issue 12's first tick: keys present
                        ticks += run_scenario(
                            source, rows, run, tmp, variant="keyed", ticks=("first",)
                        )
            if args.naive and "sheets" in sources:
                progress(f"naive baseline, {NAIVE_ROWS:,} rows", t0)
                naive = {
                    "rows": NAIVE_ROWS,
                    "sizes": [s for s in sizes if s >= NAIVE_ROWS] or [NAIVE_ROWS],
                    "ticks": run_naive(NAIVE_ROWS),
                }
        if args.profile:
            profiled = profile_slowest(ticks, tmp, t0, args.budget * 60)
        if full and "salesforce" in sources:
            saved, saved_info = load_saved_1m()
            ticks += saved
        if any(t.rows not in FLOORS for t in ticks):
            for rows in sorted({t.rows for t in ticks} - set(FLOORS)):
                progress(f"floor({rows:,}): phonenumbers alone in a fresh process", t0)
                measure_floor(rows, tmp, runs=1)
    elapsed = time.monotonic() - t0
    info = {
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "elapsed": elapsed,
        "runs": args.runs,
        "big_runs": args.big_runs,
        "load": load,
        "saved_1m": saved_info,
    }
    progress("done", t0)
    print()
    print(main_table(ticks, naive).markdown())
    print()
    print(targets(ticks, rates).markdown())
    dump = {
        "info": info,
        "ticks": [t.__dict__ for t in ticks],
        "rates": [r.__dict__ for r in rates],
        "naive": naive,
        "floors": FLOORS,
        "dry_runs": DRY_RUNS,
        "profiled": profiled.__dict__ if profiled else None,
    }
    if args.json:
        args.json.write_text(json.dumps(dump, indent=1))
    if args.sf_1m:
        SAVED_1M.write_text(json.dumps(dump, indent=1) + "\n")
        print(f"\nsaved {SAVED_1M.relative_to(ROOT)}")
    if write:
        plot(ticks, PLOT)
        write_report(report(ticks, rates, naive, profiled, info))
        print(f"\nwrote {REPORT.relative_to(ROOT)} and {PLOT.relative_to(ROOT)}")
    print(f"total {elapsed / 60:.1f} minutes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
