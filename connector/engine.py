"""One tick of one team (docs/architecture.md, "One tick"). No scheduling, signals or CLI here.

Read and map every row, store keys in keyless rows, submit new contacts through the
intent journal (journal.py), poll open campaigns (poller.py), then write every pending
cell back from the outbox. Invariants:
- a contact is in at most one campaign because of us (journal.py says how);
- nothing is lost: every write-back goes through the outbox, which is emptied only for
  rows the source acknowledged (or reported gone).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from itertools import chain

from adapters.base import CallLogger, Source
from connector.callbacks import ResultHook
from connector.classify import DUPLICATE_KEY, Classified, classify
from connector.config import LoadedMapping
from connector.control import RowControl
from connector.dnc import DncStore
from connector.journal import Journal
from connector.keys import Keyless, Rejected, assign_keys, fresh_keys, store_rejections
from connector.mapping import Contact, ResolvedMapping, resolve
from connector.orphans import Orphans, fresh_state, key_column_present
from connector.outbox import Outbox
from connector.poller import Poller
from connector.progress import EVERY, ProgressHook
from connector.records import PhoneRecord, RowRecord
from connector.revox import Generation, RevoxClient
from connector.screen import screen
from connector.spill import Spill
from connector.state import StateStore
from connector.summary import TickSummary

__all__ = ["Engine", "TickSummary"]
log = logging.getLogger(__name__)


class Engine:
    """Runs ticks for one team over a source, a Revox client and a state store."""

    def __init__(
        self,
        loaded: LoadedMapping,
        source: Source,
        revox: RevoxClient,
        state: StateStore,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        new_key: Callable[[], str] = lambda: "rx" + secrets.token_hex(5),
        settle_seconds: float = 120.0,
        generation: Generation | None = None,
        dnc: DncStore | None = None,
    ) -> None:
        self.loaded = loaded
        self.m = loaded.mapping
        self.source = source
        self.revox = revox
        self.state = state
        self.clock = clock
        self.new_key = new_key
        # A POST that was sent may still be applied later (in flight when we crashed or timed
        # out). An intent is re-sent only once it is older than this and still not found.
        self.journal = Journal(self.m, state, revox, clock, settle_seconds, generation, dnc)
        self.headers: list[str] = []
        self.phone_header = self.m.contacts.phone  # the source's own spelling, once read
        log_calls = self.m.write_back.log_call_task and isinstance(source, CallLogger)
        self.outbox = Outbox(self.m, state)
        self.poller = Poller(self.m, state, revox, self.journal, log_calls)
        self.control = RowControl(self.m, state, revox, self.journal, clock)
        self.poller.hook = ResultHook(self.m, state, clock)
        self.resolved: ResolvedMapping | None = None
        self._sending = True  # False once a batch of this tick could not be sent
        self.progress: ProgressHook | None = None  # an interactive command's display

    def show_progress(self, hook: ProgressHook | None) -> None:
        """Report rows read and contacts sent to ``hook`` (None: quiet, the default)."""
        self.progress = self.journal.progress = hook

    def classified(self, *, settled_unread: bool = False) -> Iterator[Classified]:
        """Every row with what a tick would do with it (also used by `preview`).
        ``settled_unread``: the settled rows' cells are not read (a tick that needs
        nothing of them but their key)."""
        settled = self.state.settled_rows()  # the same map for the source and classify
        # The read starts first: a source that reads its header row with the rows (Google
        # Sheets) then answers headers() from that read, not with a request of its own.
        rows = iter(self.source.read_rows(settled if settled_unread else ()))
        first = next(rows, None)
        self.headers = self.source.headers()
        rm = resolve(self.m, self.headers, self.source.describe(), self.loaded.locate)
        self.phone_header = rm.phone
        self.resolved = rm
        if first is not None:
            rows = chain([first], rows)
        unique = bool(getattr(self.source, "unique_keys", False))
        return classify(
            rm, rows, self.state, self.journal.dnc, self._expired,
            unique_keys=unique, settled=settled,
        )  # fmt: skip

    def _expired(self, owner: PhoneRecord) -> bool:
        """contacts.dedupe: a number submitted longer ago than `within` is free again."""
        dd, at = self.m.contacts.dedupe, owner.get("at")
        if dd is None or not at:
            return False  # default: a duplicate forever (and numbers stored without a time)
        return bool(self.clock() - datetime.fromisoformat(str(at)) > dd.window)

    def tick(self, *, dry_run: bool = False) -> TickSummary:
        """One pass over the team; per-step errors are in the summary, fatal ones raise."""
        try:
            return self._tick(dry_run)
        except BaseException:
            # a step cut short by any error leaves nothing half-applied: every step commits
            # when it is whole, so rolling back drops only the unfinished one
            self.state.rollback()
            raise

    def _tick(self, dry_run: bool) -> TickSummary:
        s = TickSummary(self.m.team)
        self.journal.launcher.new_tick()
        if not dry_run:
            self.journal.reconcile(s)
        with Spill() as news:
            keyless = self._read(news, s, dry_run)
            if dry_run:
                s.new = len(news) + sum(1 for c in keyless if c.contact)
                return s
            for c in self._assign_keys(keyless, s) if keyless else []:
                news.add(c)
            if self._sending:
                self._submit_read(news, s)
        if self.control.active:
            self.control.apply(s)
            again = self._screen(self.control.requeue(self.resolved, s), s)
            self.journal.submit(again, s, again=True)
        self.poller.poll(s)
        self.outbox.flush(self.source, s)
        s.open_campaigns = sum(1 for _, st in self.state.campaigns.states() if st == "open")
        s.outbox = self.state.outbox.count()
        self.state.set_meta(
            "last_tick",
            {
                "at": self.clock().isoformat(),
                "summary": s.line(),
                "errors": [e.as_dict() for e in s.errors],
            },
        )
        self.state.commit()
        return s

    # reading --------------------------------------------------------------------------
    def _submit(self, news: list[Contact], s: TickSummary) -> None:
        """Screen and submit new contacts; a batch that could not be sent stops this
        tick's submitting (the rest are new again next tick)."""
        news = self._screen(news, s)
        s.new += len(news)
        self._sending = self.journal.submit(news, s)

    def _submit_read(self, news: Spill, s: TickSummary) -> None:
        """Screen and submit the contacts left by the read, in batches of
        campaign.max_contacts in read order, one page of them in memory at a time: the same
        batches as screening them all at once. After a batch that could not be sent the
        later pages are still screened and counted, only not sent (new again next tick)."""
        size = self.m.campaign.max_contacts
        ready: list[Contact] = []
        sent = True
        for page in news.pages():
            page = self._screen(page, s)
            if not self._sending:
                return  # the phone history could not be read: nothing is sent this tick
            s.new += len(page)
            if sent:
                ready += page
                whole = len(ready) - len(ready) % size
                if whole:
                    sent = self.journal.submit(ready[:whole], s)
                    ready = ready[whole:]
        if sent and ready:
            sent = self.journal.submit(ready, s)
        self._sending = sent

    def _read(self, news: Spill, s: TickSummary, dry_run: bool) -> list[Keyless]:
        """Read and classify every row. Keyed new rows of a state that knows this source
        are submitted as the read goes, a batch as soon as campaign.max_contacts of them
        are ready (memory holds one batch, not every new row); ``news`` gets the last,
        partial batch. In a fresh state (first tick, or a state lost) nothing is sent
        before the whole read has been checked for rows an earlier state submitted: every
        new contact waits in ``news`` (spilled to disk beyond a page). Keyless rows wait
        for their keys (one write); they are returned."""
        batch: list[Contact] = []  # a state that knows the source: the batch being filled
        self._sending = True
        keyless: list[Keyless] = []
        fresh = fresh_state(self.state)
        early = not fresh and not dry_run
        size = self.m.campaign.max_contacts
        # reads the headers (Orphans needs them); a settled row needs nothing here unless
        # a control column or callbacks may act on it
        classified = self.classified(settled_unread=not self.control.active)
        self.control.begin(self.headers)
        key_column_present(self.m, self.source, self.state, self.headers)
        orphans = Orphans(self.m, self.source, self.headers, fresh)
        rejected: list[Rejected] = []
        progress = self.progress
        look = self.control.look if self.control.active else None
        read = 0
        for c in classified:
            read += 1
            if progress is not None and not read % EVERY:
                progress("read", read)
            if look is not None:
                c = look(c)
            elif c.status == "submitted":
                continue
            key = c.row.key
            if c.status == "new" and orphans.claims(c):
                continue  # submitted by an earlier state: never submitted again on our own
            if c.status == "filtered":
                s.filtered += 1
            elif c.status == "rejected" and c.rejection is not None:
                s.rejected += 1
                if key is None:
                    keyless.append(self._keyless(c))  # kept until keys are stored
                elif c.rejection.reason == DUPLICATE_KEY:
                    # a copied row: results go to the first row with the key only
                    msg = f"line {c.row.line}: {c.rejection.message}"
                    s.fail("rows", self.m.source.type, msg, retryable=False)
                elif not dry_run:
                    rejected.append((key, c.rejection, c.record, c.cells))
            elif c.status == "new" and c.contact is not None:
                if key is None:
                    keyless.append(self._keyless(c))  # kept until keys are stored
                elif self._sending and not self._refused_before(c.record, c.contact):
                    if not early:  # (after a batch failed: new again next tick)
                        news.add(c.contact)
                    else:
                        batch.append(c.contact)
                        if len(batch) >= size:
                            self._submit(batch, s)
                            batch = []
        s.read += read
        if progress is not None:
            progress("read", read)
        for contact in batch:
            news.add(contact)
        orphans.report(s)
        if not dry_run:
            self.state.queue_writes(store_rejections(self.state, self.m.write_back, rejected))
            if fresh:  # checked: from now on an unknown keyed row is one we keyed ourselves
                self.state.set_meta("source_checked", self.clock().isoformat())
            self.state.commit()
        return keyless

    def _keyless(self, c: Classified) -> Keyless:
        """A keyless row as _assign_keys needs it: its line and phone cell, not every cell."""
        phone = c.row.values.get(self.phone_header, "")
        return Keyless(c.row.line, phone, c.cells, c.contact, c.rejection)

    def _screen(self, news: list[Contact], s: TickSummary) -> list[Contact]:
        """Drop the numbers that must not be called (screen.py); none are sent when the
        phone history could not be read, nor are the later batches of this read."""
        kept = screen(self.m, self.journal, self.state, self.clock, news, s)
        if kept is None:
            self._sending = False
            return []
        return kept

    def _refused_before(self, rec: RowRecord | None, c: Contact) -> bool:
        """A row whose batch Revox refused is retried only once it or the campaign changed."""
        return (
            rec is not None
            and rec["state"] == "failed"
            and rec.get("fp") == self.journal.contact_fp(c.to_phone_number, c.prompt_variables)
        )

    def _assign_keys(self, keyless: list[Keyless], s: TickSummary) -> list[Contact]:
        """Store a fresh key in each keyless row; a row is submitted only once its key is stored."""
        if self.source.key_column is None:
            return []
        keys = fresh_keys(self.state, self.new_key, len(keyless))
        return assign_keys(self.m, self.source, self.state, self.phone_header, keys, keyless, s)
