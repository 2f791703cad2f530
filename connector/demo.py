"""`revox-sync demo`: the whole loop on a sample CSV and an in-process Revox sandbox."""

from __future__ import annotations

import shutil
import time
from importlib import resources
from pathlib import Path
from typing import TextIO

from adapters.csv_file import read_table
from connector.errors import ConfigError
from connector.loading import load_mapping
from connector.runtime import open_team
from connector.sandbox import Sandbox

MARKER = ".revox-demo"
API_KEY = "sandbox-demo-key"


def prepare(workdir: Path) -> Path:
    """A fresh copy of the sample in workdir; refuses to wipe a folder that is not a demo's."""
    if workdir.exists() and any(workdir.iterdir()):
        if not (workdir / MARKER).exists():
            raise ConfigError(f"{workdir}: exists and is not a demo folder (pick another --dir)")
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / MARKER).write_text("made by revox-sync demo; deleted by the next demo run\n")
    data = resources.files("connector") / "demo_data"
    for name in ("demo.yaml", "leads.csv"):
        (workdir / name).write_bytes((data / name).read_bytes())
    return workdir / "demo.yaml"


def run_demo(
    workdir: Path, *, speed: float = 20.0, timeout: float = 60.0, out: TextIO | None = None
) -> int:
    """Run ticks against a speeded sandbox until every call is final; print the results."""
    import sys

    out = out or sys.stdout
    workdir = workdir.resolve()
    loaded = load_mapping(prepare(workdir))
    with Sandbox(API_KEY, speed=speed) as sandbox:
        env = {"REVOX_API_KEY": API_KEY, "REVOX_BASE_URL": sandbox.url}
        team = open_team(loaded, workdir / "state", env)
        engine, state = team.engine, team.engine.state
        print(f"sandbox: {sandbox.url} (speed x{speed:g}); working folder: {workdir}", file=out)
        start = time.monotonic()
        tick = 0
        try:
            while True:
                tick += 1
                s = engine.tick()
                counts = state.row_counts()
                print(
                    f"tick {tick:>2} {time.monotonic() - start:5.1f}s  {s.line()}  "
                    f"calls done {counts.get('done', 0)}",
                    file=out,
                    flush=True,
                )
                for e in s.errors:
                    print(f"  error: {e.message}", file=out)
                if s.open_campaigns == 0 and s.outbox == 0 and tick > 1:
                    break
                if time.monotonic() - start > timeout:
                    print("demo: timed out before every call ended", file=out)
                    return 1
                time.sleep(0.5)
        finally:
            team.close()
    csv_path = workdir / "leads.csv"
    _table(csv_path, out)
    print(csv_path, file=out)
    return 0


def _table(path: Path, out: TextIO) -> None:
    cols = ("First name", "Phone", "Revox status", "Outcome", "Reached", "Revox error")
    print("", file=out)
    print("  ".join(f"{c:<16}" for c in cols), file=out)
    for row in read_table(path):
        print("  ".join(f"{(row.get(c) or '')[:16]:<16}" for c in cols), file=out)
    print("", file=out)
