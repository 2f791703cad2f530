"""Would mapping a first read in a process pool pay? (issue 12: "measure before keeping it")

    .venv/bin/python bench/pool_check.py [ROWS]

Maps the rows of the bench's CSV workload (keys present) three ways and prints the figures:
``map_row`` in this process; only the pickling a pool needs (rows out, results back); and
a pool of two worker processes (one per core here), with this process's CPU and the wall
time. A pool pays only when its workers' mapping saves more than the pickling costs the
process that reads the source and submits.
"""

from __future__ import annotations

import pickle
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from workload import mapping_yaml, write_csv

from adapters.base import Row
from connector.loading import load_mapping
from connector.mapping import Contact, Rejection, ResolvedMapping, map_row, resolve
from connector.sources import open_source

CHUNK = 5000
Mapped = list[Contact | Rejection | None]
_rm: ResolvedMapping | None = None  # a worker's resolved mapping (set once by _init)


def _init(rm: ResolvedMapping) -> None:
    global _rm
    _rm = rm


def _work(chunk: list[Row]) -> Mapped:
    assert _rm is not None
    return [map_row(_rm, r) for r in chunk]


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_csv(folder / "leads.csv", n, keyed=True)
        (folder / "bench.yaml").write_text(mapping_yaml("csv", max_contacts=500))
        loaded = load_mapping(folder / "bench.yaml")
        source = open_source(loaded, {})
        rows = list(source.read_rows())
        rm = resolve(loaded.mapping, source.headers(), source.describe(), loaded.locate)
    c0 = time.process_time()
    serial = [map_row(rm, r) for r in rows]
    print(f"map_row, {n:,} rows, this process: {time.process_time() - c0:.2f} s CPU")

    chunks = [rows[i : i + CHUNK] for i in range(0, len(rows), CHUNK)]
    c0 = time.process_time()
    for i, chunk in enumerate(chunks):
        pickle.loads(pickle.dumps(chunk, protocol=5))
        pickle.loads(pickle.dumps(serial[i * CHUNK : (i + 1) * CHUNK], protocol=5))
    print(f"pickling alone (rows out, results back): {time.process_time() - c0:.2f} s CPU")

    with ProcessPoolExecutor(2, initializer=_init, initargs=(rm,)) as pool:
        list(pool.map(_work, chunks[:2]))  # the workers started and warm
        c0, w0 = time.process_time(), time.perf_counter()
        pooled = [m for part in pool.map(_work, chunks) for m in part]
        cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    print(f"pool of 2 workers: {cpu:.2f} s CPU in this process, {wall:.2f} s wall")
    if pooled != serial:
        print("the pool mapped differently", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
