"""Rows -> what the tick does with each: filtered, rejected, new or already submitted.

Shared by the engine's tick and by `preview`, so both always agree.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

from adapters.base import Row
from connector.mapping import (
    DO_NOT_CALL,
    DUPLICATE_PHONE,
    Contact,
    Rejection,
    ResolvedMapping,
    map_row,
)
from connector.state import StateStore

DUPLICATE_KEY = "duplicate_key"
SUBMITTED_STATES = frozenset({"queued", "submitted", "done"})
Status = Literal["new", "rejected", "filtered", "submitted"]


@dataclass(frozen=True)
class Classified:
    row: Row
    status: Status
    contact: Contact | None = None
    rejection: Rejection | None = None


def classify(rm: ResolvedMapping, rows: Iterable[Row], state: StateStore) -> Iterator[Classified]:
    """Map every row and check it against the team's state and the rows before it."""
    seen_keys: set[str] = set()
    seen_phones: dict[str, int] = {}
    for row in rows:
        key = row.key
        if key is not None:
            if key in seen_keys:
                yield Classified(
                    row,
                    "rejected",
                    rejection=Rejection(
                        key,
                        row.line,
                        row.values.get(rm.phone, ""),
                        DUPLICATE_KEY,
                        f"The key {key!r} is on more than one row; clear the key cell of the "
                        "copied row so it gets its own.",
                    ),
                )
                continue
            seen_keys.add(key)
            rec = state.row(key)
            if rec is not None and rec["state"] in SUBMITTED_STATES:
                yield Classified(row, "submitted")
                continue
        mapped = map_row(rm, row)
        if mapped is None:
            yield Classified(row, "filtered")
            continue
        if isinstance(mapped, Rejection):
            yield Classified(row, "rejected", rejection=mapped)
            continue
        phone = mapped.to_phone_number

        owner = state.phone_owner(phone)
        problem: tuple[str, str] | None = None
        if state.is_dnc(phone):
            problem = (DO_NOT_CALL, f"{phone} is on the team's do-not-call list.")
        elif owner is not None and owner != key:
            problem = (DUPLICATE_PHONE, f"{phone} was already submitted for row {owner}.")
        elif phone in seen_phones:
            problem = (DUPLICATE_PHONE, f"{phone} is also on line {seen_phones[phone]}.")
        if problem is not None:
            rej = Rejection(key, row.line, mapped.phone_input, *problem, to_phone_number=phone)
            yield Classified(row, "rejected", rejection=rej)
            continue
        seen_phones[phone] = row.line
        yield Classified(row, "new", contact=mapped)
