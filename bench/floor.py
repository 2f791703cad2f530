"""floor(N): phonenumbers alone on the N phone cells of a CSV, in a fresh process.

    python bench/floor.py LEADS.csv [DEFAULT_REGION]

Reads the CSV (csv module), then for each ``Phone`` cell: ``parse`` (default region FR),
``is_valid_number`` and ``format_number(E164)``. Prints one JSON line: rows, this
process's CPU seconds from its start (interpreter start-up and the import included) and
wall seconds from the import of phonenumbers on. This is the least any connector must do
to map N new rows; `make bench` prints every tick as a multiple of it.
"""

from __future__ import annotations

import csv
import json
import sys
import time


def main() -> int:
    t0 = time.perf_counter()
    import phonenumbers
    from phonenumbers import PhoneNumberFormat

    path, region = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else "FR")
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        col = header.index("Phone")
        cells = [row[col] for row in reader]
    valid = 0
    for text in cells:
        try:
            num = phonenumbers.parse(text, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(num):
            phonenumbers.format_number(num, PhoneNumberFormat.E164)
            valid += 1
    wall = time.perf_counter() - t0
    cpu = time.process_time()
    print(json.dumps({"rows": len(cells), "valid": valid, "cpu": cpu, "wall": wall}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
