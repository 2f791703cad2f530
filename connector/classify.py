"""Rows -> what the tick does with each: filtered, rejected, new or already submitted.

Shared by the engine's tick and by `preview`, so both always agree. Rows are handled in
chunks so that the state of a whole chunk is fetched in a few queries, and a million-row
source streams through in bounded memory.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import Literal, NamedTuple

import phonenumbers

from adapters.base import UNREAD, Row
from connector.dnc import DncStore
from connector.mapping import (
    DO_NOT_CALL,
    DUPLICATE_PHONE,
    INVALID_PHONE,
    MISSING_PHONE,
    MISSING_VARIABLE,
    TEMPLATE_FIELD,
    UNREADABLE_ROW,
    Contact,
    Rejection,
    ResolvedMapping,
    map_row,
)
from connector.records import PhoneRecord, RowRecord, RowState
from connector.settled import SETTLED_STATES
from connector.state import StateStore

DUPLICATE_KEY = "duplicate_key"
# Rejections that depend on the row's own cells only (not on other rows, the do-not-call
# lists or the state): an unchanged row keeps them, so it is not mapped again.
CONTENT_REASONS = frozenset({MISSING_PHONE, INVALID_PHONE, MISSING_VARIABLE, UNREADABLE_ROW})
CHUNK = 1000
Status = Literal["new", "rejected", "filtered", "submitted"]


def fingerprinter(rm: ResolvedMapping) -> Callable[[Row], str]:
    """Row -> a short hash of exactly what map_row reads: the cells of every column the
    mapping reads, the row's read problem, and the mapping itself (a changed mapping or
    phone library version re-evaluates every row)."""
    cols = [rm.phone, *([rm.country] if rm.country else []), *rm.include, *rm.skip]
    for var in rm.variables:
        if var.column:
            cols.append(var.column)
        if var.template:
            cols += TEMPLATE_FIELD.findall(var.template)
    read = list(dict.fromkeys(cols))
    shape = {
        "read": read,
        "region": rm.default_region,
        "include": {k: sorted(v) for k, v in rm.include.items()},
        "skip": {k: sorted(v) for k, v in rm.skip.items()},
        "vars": [[v.name, v.column, v.value, v.template, v.required] for v in rm.variables],
        "ext": rm.extensions,
        "lib": getattr(phonenumbers, "__version__", ""),
    }
    tag = hashlib.blake2b(json.dumps(shape, sort_keys=True).encode(), digest_size=32).digest()
    blake = hashlib.blake2b

    def fp(row: Row) -> str:
        get = row.values.get
        text = "\x1f".join([row.problem or "", *[get(c, "") for c in read]])
        return blake(text.encode(), digest_size=10, key=tag).hexdigest()

    return fp


class Classified(NamedTuple):
    """What a tick does with one row (a named tuple: one is made per row per tick)."""

    row: Row
    status: Status
    contact: Contact | None = None
    rejection: Rejection | None = None
    record: RowRecord | None = None  # the row's state, when it has one
    cells: str | None = None  # fingerprint of the cells read (fingerprinter), rows mapped


def classify(
    rm: ResolvedMapping,
    rows: Iterable[Row],
    state: StateStore,
    dnc: DncStore | None = None,
    expired: Callable[[PhoneRecord], bool] | None = None,
    *,
    unique_keys: bool = False,
    settled: dict[str, RowState] | None = None,
) -> Iterator[Classified]:
    """Map every row and check it against the team's state, the account's do-not-call list
    and the rows before it. ``expired``: whether a number's owner (p:) is too old to count
    as a duplicate any more (contacts.dedupe). ``unique_keys``: the source's keys cannot
    repeat (Salesforce record Ids), so the keys seen are not kept (a million of them are
    about 90 MB). ``settled``: the settled rows the source was given (``read_rows``), so
    that a row read without its cells (``UNREAD``) is one this classification settles."""
    seen_keys: set[str] | None = None if unique_keys else set()
    seen_phones: dict[str, int] = {}
    fingerprint = fingerprinter(rm)
    if settled is None:  # key -> state; only the other rows' records are read
        settled = state.settled_rows()
    it = iter(rows)
    while chunk := list(islice(it, CHUNK)):
        records = state.rows.get_many([k for r in chunk if (k := r.key) and k not in settled])
        known = {k: (str(r.get("state", "")), r) for k, r in records.items()}
        # first pass: what needs no number check; rows keep their order in the output
        done: list[Classified | None] = []
        mapped: list[Contact | Rejection | None] = []
        prints: list[str | None] = []
        for row in chunk:
            key = row.key
            verdict: Classified | None = None
            cells: str | None = None
            if key is not None and seen_keys is not None and key in seen_keys:
                msg = (
                    f"The key {key!r} is on more than one row; clear the key cell of the "
                    "copied row so it gets its own."
                )
                rej = Rejection(key, row.line, row.values.get(rm.phone, ""), DUPLICATE_KEY, msg)
                verdict = Classified(row, "rejected", rejection=rej)
            elif key is not None:
                if seen_keys is not None:
                    seen_keys.add(key)
                if (settled_as := settled.get(key)) is not None:
                    # only its state was read: control.look reads the rest when needed
                    verdict = Classified(row, "submitted", record={"state": settled_as})
                elif row.values is UNREAD:  # settled when read: its cells are not here
                    verdict = Classified(row, "submitted", record=known.get(key, ("", None))[1])
                else:
                    st, rec = known.get(key, ("", None))
                    if st in SETTLED_STATES:
                        verdict = Classified(row, "submitted", record=rec)
                    else:
                        cells = fingerprint(row)
                        if st == "rejected" and rec is not None:
                            verdict = _unchanged_rejection(row, rm, rec, cells)
            else:
                cells = fingerprint(row)  # stored with the rejection once keyed
            done.append(verdict)
            prints.append(cells)
            mapped.append(map_row(rm, row) if verdict is None else None)
        phones = [m.to_phone_number for m in mapped if isinstance(m, Contact)]
        stopped = {p: "" for p in state.opt_outs.get_many(phones)}
        if dnc is not None:
            stopped.update(dnc.which(phones))
        owners = state.owners.get_many(phones)
        if expired is not None:
            owners = {p: o for p, o in owners.items() if not expired(o)}
        for row, verdict, m, cells in zip(chunk, done, mapped, prints, strict=True):
            if verdict is not None:
                yield verdict
                continue
            rec = known[row.key][1] if row.key in known else None
            if m is None:
                yield Classified(row, "filtered", record=rec)
            elif isinstance(m, Rejection):
                yield Classified(row, "rejected", rejection=m, record=rec, cells=cells)
            else:
                c = _check(row, m, stopped, owners, seen_phones, rec)
                yield Classified(c.row, c.status, c.contact, c.rejection, c.record, cells)


def _unchanged_rejection(
    row: Row, rm: ResolvedMapping, rec: RowRecord, cells: str
) -> Classified | None:
    """The stored rejection of a row whose read cells did not change since it was rejected
    (no number parsed again), or None when the row must be mapped."""
    reason, message = rec.get("reason"), rec.get("message")
    if rec.get("cells") != cells or reason not in CONTENT_REASONS or not message:
        return None
    phone_input = row.values.get(rm.phone, "")
    rej = Rejection(row.key, row.line, phone_input, str(reason), str(message))
    return Classified(row, "rejected", rejection=rej, record=rec, cells=cells)


def _check(
    row: Row,
    c: Contact,
    dnc: dict[str, str],
    owners: dict[str, PhoneRecord],
    seen_phones: dict[str, int],
    rec: RowRecord | None,
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
