"""The kinds of record in a team's state, typed.

``Record`` (a plain dict) is what the store hands out and accepts today; the TypedDicts
below describe each kind's fields so that callers can move to them one by one (they are
structurally the same dicts, so nothing has to change at once).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Generic, Literal, TypedDict, TypeVar, cast

Record = dict[str, Any]

if TYPE_CHECKING:
    from connector.state import StateStore

RowState = Literal["queued", "submitted", "done", "rejected", "failed"]
BatchState = Literal["intent", "created", "failed", "split"]
CampaignState = Literal["open", "final", "deleted"]


class RowRecord(TypedDict, total=False):
    """r:<row key>"""

    state: RowState
    phone: str
    batch: str
    campaign: str
    row_index: int
    fp: str | None  # what a refused or rejected row is compared on before it is tried again
    reason: str
    message: str  # a rejection's sentence, so an unchanged rejected row is not mapped again
    cells: str  # fingerprint of the cells the mapping reads (classify.fingerprinter)
    error: str
    result: str  # the last cells digest, as earlier states kept it (now CampaignRecord.results)


class PhoneRecord(TypedDict, total=False):
    """p:<e164>: the row that owns a submitted number."""

    key: str
    at: str  # when it was submitted (contacts.dedupe)


class DncRecord(TypedDict, total=False):
    """d:<e164>: never submitted again."""

    key: str
    outcome: str | None
    source: str  # the outcome, or "phone_history"


class BatchRecord(TypedDict, total=False):
    """b:<batch id>: the intent journal."""

    state: BatchState
    keys: list[str]
    marker: str
    name: str  # the campaign name without its marker
    gen: Literal["seed", "current"]  # the API generation the body was built for
    body: dict[str, Any] | None
    at: str | None  # when the last attempt that may have landed was sent; None: never sent
    refusals: int  # refused requests spent isolating bad contacts
    reshaped: bool  # re-sent once in the other generation's shape
    children: list[str]  # the batches a refused batch was split into
    salt: str  # makes a re-queued row's batch id differ from its earlier batch's (control.py)
    campaign: str
    error: str
    rebuilt: bool


class CampaignRecord(TypedDict, total=False):
    """c:<campaign id>: a campaign followed until all its calls are final."""

    state: CampaignState
    batch: str
    keys: list[str]
    launch: Literal["pending", "done", "none", "refused"]  # current generation's launch-calls
    launched: bool  # written by the first release; read as "done"
    sig: str | None
    seen: list[str]  # per row index, the digest of its last result (poller)
    results: list[str]  # per row index, the digest of the cells last queued (seen.py)
    pages: dict[str, str]  # rows pages read before whose rows are all in `seen` (seen.py)
    name: str
    error: str
    rebuilt: bool


class OutboxRecord(TypedDict, total=False):
    """o:<row key>: cells not yet acknowledged by the source."""

    values: dict[str, str]
    line: int | None
    attempts: int
    error: str | None
    parked: str  # digest of values the source refused for good (outbox.py)


class CallLogRecord(TypedDict):
    """l:<call id>: one finished call to log as an activity (adapters.base.CallLog's fields)."""

    call_id: str
    key: str
    subject: str
    outcome: str | None
    summary: str
    ended_at: str | None
    duration_seconds: int | None


class StopRecord(TypedDict, total=False):
    """The stop of one batch of a row: intent (journalled) | sent | held | late."""

    batch: str | None
    state: Literal["intent", "sent", "held", "late"]
    call: str
    at: str
    note: str


# A re-queue of a row, valid while the row is still in batch "from" (a keyword in Python,
# hence the functional form).
PendingRecord = TypedDict(
    "PendingRecord",
    {"kind": Literal["callback", "again"], "due": str, "from": str | None},
)


class ControlRecord(TypedDict, total=False):
    """k:<row key>: what the control column and the callbacks policy did to a row."""

    stop: StopRecord
    pending: PendingRecord
    callbacks: int  # callbacks scheduled so far (<= callbacks.max)
    prior: int  # attempts of earlier rounds, added to the attempts column
    last: int  # attempts of the current round, once final
    again: str | None  # the batch a call again re-armed from (once per mark)


R = TypeVar("R", bound=Mapping[str, Any])


class Kind(Generic[R]):
    """The records of one kind (rows, batches, campaigns...): the only way modules outside
    this file reach the store's records, so no key prefix is written anywhere else."""

    def __init__(self, store: StateStore, prefix: str) -> None:
        self._store, self._prefix = store, prefix

    def get(self, key: str) -> R | None:
        return cast("R | None", self._store.table.get(self._prefix, key))

    def put(self, key: str, record: R) -> None:
        self._store.table.put(self._prefix, key, cast("Record", record))

    def put_many(self, records: Iterable[tuple[str, R]]) -> None:
        self._store.table.put_many(self._prefix, cast("Iterable[tuple[str, Record]]", records))

    def get_many(self, keys: Iterable[str]) -> dict[str, R]:
        return cast("dict[str, R]", self._store.table.get_many(self._prefix, keys))

    def delete(self, key: str) -> None:
        self._store.table.delete(self._prefix, key)

    def delete_many(self, keys: Iterable[str]) -> None:
        self._store.table.delete_many(self._prefix, keys)

    def scan(self) -> Iterator[tuple[str, R]]:
        return cast("Iterator[tuple[str, R]]", self._store.table.scan(self._prefix))

    def page(self, after: str | None, limit: int) -> list[tuple[str, R]]:
        return cast("list[tuple[str, R]]", self._store.table.page(self._prefix, after, limit))

    def states(self) -> list[tuple[str, str]]:
        return self._store.table.states(self._prefix)

    def fields(self, *names: str) -> list[tuple[str, list[Any]]]:
        """(key, values of these top-level fields) of every record, records not decoded."""
        return self._store.table.fields(self._prefix, names)

    def count(self) -> int:
        return self._store.table.count(self._prefix)

    def any(self) -> bool:
        """Whether there is at least one (an index probe, not a count of them all)."""
        return self._store.table.any(self._prefix)
