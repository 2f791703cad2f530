"""The kinds of record in a team's state, typed.

``Record`` (a plain dict) is what the store hands out and accepts today; the TypedDicts
below describe each kind's fields so that callers can move to them one by one (they are
structurally the same dicts, so nothing has to change at once).
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

Record = dict[str, Any]

RowState = Literal["queued", "submitted", "done", "rejected", "failed"]
BatchState = Literal["intent", "created", "failed"]
CampaignState = Literal["open", "final", "deleted"]


class RowRecord(TypedDict, total=False):
    """r:<row key>"""

    state: RowState
    phone: str
    batch: str
    campaign: str
    row_index: int
    fp: str
    reason: str
    message: str  # a rejection's sentence, so an unchanged rejected row is not mapped again
    cells: str  # fingerprint of the cells the mapping reads (classify.fingerprinter)
    error: str
    result: str


class PhoneRecord(TypedDict):
    """p:<e164>: the row that owns a submitted number."""

    key: str


class DncRecord(TypedDict, total=False):
    """d:<e164>: never submitted again."""

    key: str
    outcome: str | None


class BatchRecord(TypedDict, total=False):
    """b:<batch id>: the intent journal."""

    state: BatchState
    keys: list[str]
    marker: str
    body: dict[str, Any] | None
    at: str
    campaign: str
    error: str
    rebuilt: bool


class CampaignRecord(TypedDict, total=False):
    """c:<campaign id>: a campaign followed until all its calls are final."""

    state: CampaignState
    batch: str
    keys: list[str]
    launched: bool
    sig: str | None
    name: str


class OutboxRecord(TypedDict):
    """o:<row key>: cells not yet acknowledged by the source."""

    values: dict[str, str]
    line: int | None
    attempts: int
    error: str | None


class StopRecord(TypedDict, total=False):
    """The stop of one batch of a row: intent (journalled) | sent | held | late."""

    batch: str
    state: Literal["intent", "sent", "held", "late"]
    call: str
    at: str
    note: str


class PendingRecord(TypedDict):
    """A re-queue of a row, valid while the row is still in batch ``from``."""

    kind: Literal["callback", "again"]
    due: str
    # "from": the row's batch when scheduled (a keyword: see ControlRecord)


class ControlRecord(TypedDict, total=False):
    """k:<row key>: what the control column and the callbacks policy did to a row."""

    stop: StopRecord
    pending: PendingRecord
    callbacks: int  # callbacks scheduled so far (<= callbacks.max)
    prior: int  # attempts of earlier rounds, added to the attempts column
    last: int  # attempts of the current round, once final
    again: str  # the batch a call again re-armed from (once per mark)
