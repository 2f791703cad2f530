"""Rows -> what the tick does with each: filtered, rejected, new or already submitted.

Shared by the engine's tick and by `preview`, so both always agree. Rows are handled in
chunks so that the state of a whole chunk is fetched in a few queries, and a million-row
source streams through in bounded memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Literal

from adapters.base import Row
from connector.dnc import DncStore
from connector.mapping import (
    DO_NOT_CALL,
    DUPLICATE_PHONE,
    Contact,
    Rejection,
    ResolvedMapping,
    map_row,
)
from connector.state import Record, StateStore

DUPLICATE_KEY = "duplicate_key"
SUBMITTED_STATES = frozenset({"queued", "submitted", "done"})
CHUNK = 1000
Status = Literal["new", "rejected", "filtered", "submitted"]


@dataclass(frozen=True)
class Classified:
    row: Row
    status: Status
    contact: Contact | None = None
    rejection: Rejection | None = None
    record: Record | None = None  # the row's state, when it has one


def classify(
    rm: ResolvedMapping,
    rows: Iterable[Row],
    state: StateStore,
    dnc: DncStore | None = None,
    expired: Callable[[Record], bool] | None = None,
) -> Iterator[Classified]:
    """Map every row and check it against the team's state, the account's do-not-call list
    and the rows before it. ``expired``: whether a number's owner (p:) is too old to count
    as a duplicate any more (contacts.dedupe)."""
    seen_keys: set[str] = set()
    seen_phones: dict[str, int] = {}
    it = iter(rows)
    while chunk := list(islice(it, CHUNK)):
        known = state.get_many("r", (r.key for r in chunk if r.key))
        # first pass: what needs no number check; rows keep their order in the output
        done: list[Classified | None] = []
        mapped: list[Contact | Rejection | None] = []
        for row in chunk:
            key = row.key
            verdict: Classified | None = None
            if key is not None and key in seen_keys:
                msg = (
                    f"The key {key!r} is on more than one row; clear the key cell of the "
                    "copied row so it gets its own."
                )
                rej = Rejection(key, row.line, row.values.get(rm.phone, ""), DUPLICATE_KEY, msg)
                verdict = Classified(row, "rejected", rejection=rej)
            elif key is not None:
                seen_keys.add(key)
                if known.get(key, {}).get("state") in SUBMITTED_STATES:
                    verdict = Classified(row, "submitted", record=known[key])
            done.append(verdict)
            mapped.append(map_row(rm, row) if verdict is None else None)
        phones = [m.to_phone_number for m in mapped if isinstance(m, Contact)]
        stopped = {p: "" for p in state.get_many("d", phones)}
        if dnc is not None:
            stopped.update(dnc.which(phones))
        owners = state.get_many("p", phones)
        if expired is not None:
            owners = {p: o for p, o in owners.items() if not expired(o)}
        for row, verdict, m in zip(chunk, done, mapped, strict=True):
            rec = known.get(row.key) if row.key else None
            if verdict is not None:
                yield verdict
            elif m is None:
                yield Classified(row, "filtered", record=rec)
            elif isinstance(m, Rejection):
                yield Classified(row, "rejected", rejection=m, record=rec)
            else:
                yield _check(row, m, stopped, owners, seen_phones, rec)


def _check(
    row: Row,
    c: Contact,
    dnc: dict[str, str],
    owners: dict[str, Record],
    seen_phones: dict[str, int],
    rec: Record | None,
) -> Classified:
    phone = c.to_phone_number
    owner = owners.get(phone, {}).get("key")
    problem: tuple[str, str] | None = None
    if phone in dnc:
        heard = f" (the opt-out was heard by team {dnc[phone]})" if dnc[phone] else ""
        problem = (DO_NOT_CALL, f"{phone} is on the account's do-not-call list{heard}.")
    elif owner is not None and owner != row.key:
        problem = (DUPLICATE_PHONE, f"{phone} was already submitted for row {owner}.")
    elif phone in seen_phones:
        problem = (DUPLICATE_PHONE, f"{phone} is also on line {seen_phones[phone]}.")
    if problem is not None:
        rej = Rejection(row.key, row.line, c.phone_input, *problem, to_phone_number=phone)
        return Classified(row, "rejected", rejection=rej, record=rec)
    seen_phones[phone] = row.line
    return Classified(row, "new", contact=c, record=rec)
