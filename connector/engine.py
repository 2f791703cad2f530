"""One tick of one team (design.md, "One tick"). No scheduling, signals or CLI here.

Invariants this module keeps:
- a contact is in at most one campaign because of us: every batch is journalled as
  `intent` (with its rows marked queued) and committed before POST /campaigns; an intent
  left by a crash or an ambiguous answer is reconciled by its name marker before any
  new POST of that batch;
- nothing is lost: every write-back goes through the outbox, which is emptied only for
  rows the source acknowledged (or reported gone).
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from adapters.base import CallLog, CallLogger, RowUpdate, Source
from connector import failpoints
from connector.classify import Classified, classify
from connector.config import LoadedMapping
from connector.errors import AmbiguousError, NotFoundError, RejectedError, RetryableError
from connector.mapping import Contact, Rejection, resolve
from connector.results import call_result, failed_values, rejected_values, submitted_values
from connector.revox import Campaign, RevoxClient
from connector.state import Record, StateStore

log = logging.getLogger(__name__)


@dataclass
class TickSummary:
    team: str
    read: int = 0
    filtered: int = 0
    new: int = 0
    rejected: int = 0
    submitted: int = 0
    campaigns_created: int = 0
    results_written: int = 0
    keys_assigned: int = 0
    open_campaigns: int = 0
    outbox: int = 0
    errors: list[str] = field(default_factory=list)

    def line(self) -> str:
        text = (
            f"{self.team}: read {self.read}, new {self.new}, rejected {self.rejected}, "
            f"submitted {self.submitted}, campaigns created {self.campaigns_created}, "
            f"results written {self.results_written}, open campaigns {self.open_campaigns}, "
            f"outbox {self.outbox}"
        )
        return text + (f", errors {len(self.errors)}" if self.errors else "")


def batch_id(team: str, keys: list[str]) -> str:
    return hashlib.sha256("\0".join([team, *keys]).encode()).hexdigest()[:16]


def _digest(values: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:16]


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
    ) -> None:
        self.m = loaded.mapping
        self.source = source
        self.revox = revox
        self.state = state
        self.clock = clock
        self.new_key = new_key
        # A POST that was sent may still be applied later (in flight when we crashed or timed
        # out). An intent is re-sent only once it is older than this and still not found.
        self.settle_seconds = settle_seconds

    # reading --------------------------------------------------------------------
    def classified(self) -> Iterator[Classified]:
        """Every row with what a tick would do with it (also used by `preview`)."""
        rm = resolve(self.m, self.source.headers(), self.source.describe())
        return classify(rm, self.source.read_rows(), self.state)

    # the tick ---------------------------------------------------------------------
    def tick(self, *, dry_run: bool = False) -> TickSummary:
        s = TickSummary(self.m.team)
        if not dry_run:
            self._reconcile_intents(s)
        news, keyless = self._read(s, dry_run)
        if dry_run:
            return s
        if keyless:
            news += self._assign_keys(keyless, s)
        s.new = len(news)
        self._submit(news, s)
        self._poll(s)
        self._flush(s)
        s.open_campaigns = sum(1 for _, c in self.state.scan("c") if c["state"] == "open")
        s.outbox = self.state.count("o")
        self.state.set_meta(
            "last_tick", {"at": self.clock().isoformat(), "summary": s.line(), "errors": s.errors}
        )
        self.state.commit()
        return s

    def _read(self, s: TickSummary, dry_run: bool) -> tuple[list[Contact], list[Classified]]:
        news: list[Contact] = []
        keyless: list[Classified] = []
        for c in self.classified():
            s.read += 1
            if c.status == "filtered":
                s.filtered += 1
            elif c.status == "rejected":
                s.rejected += 1
                assert c.rejection is not None
                if c.row.key is None:
                    keyless.append(c)
                elif not dry_run and c.rejection.reason != "duplicate_key":
                    self._record_rejection(c.row.key, c.rejection)
            elif c.status == "new":
                assert c.contact is not None
                if c.row.key is None:
                    keyless.append(c)
                elif not self._refused_before(c.row.key, c.contact):
                    news.append(c.contact)
        self.state.commit()
        return news, keyless

    def _contact_fp(self, to_phone_number: str, variables: dict[str, str]) -> str:
        settings = self.m.campaign.model_dump_json()
        return _digest({"phone": to_phone_number, "vars": json.dumps(variables), "c": settings})

    def _refused_before(self, key: str, c: Contact) -> bool:
        """A row whose batch Revox refused is retried only once it or the campaign changed."""
        rec = self.state.row(key)
        return (
            rec is not None
            and rec["state"] == "failed"
            and rec.get("fp") == self._contact_fp(c.to_phone_number, c.prompt_variables)
        )

    def _record_rejection(self, key: str, rej: Rejection) -> None:
        rec = self.state.row(key)
        fp = _digest({"reason": rej.reason, "message": rej.message})
        if rec is not None and rec.get("fp") == fp:
            return  # unchanged since it was written back
        self.state.put("r", key, {"state": "rejected", "reason": rej.reason, "fp": fp})
        self.state.queue_write(key, rejected_values(self.m.write_back, rej))

    def _assign_keys(self, keyless: list[Classified], s: TickSummary) -> list[Contact]:
        """Store a fresh key in each keyless row; a row is submitted only once its key is stored."""
        col = self.source.key_column
        if col is None:
            return []
        pending = {self.new_key(): c for c in keyless}
        updates = [
            RowUpdate(
                k,
                self._ordered(
                    {
                        col: k,
                        **(rejected_values(self.m.write_back, c.rejection) if c.rejection else {}),
                    }
                ),
                c.row.line,
            )
            for k, c in pending.items()
        ]
        try:
            report = self.source.write_back(updates)
        except RetryableError as exc:
            s.errors.append(f"assigning row keys: {exc}")
            return []
        s.keys_assigned = len(report.written)
        news: list[Contact] = []
        for k in report.written:
            c = pending[k]
            if c.rejection is not None:
                fp = _digest({"reason": c.rejection.reason, "message": c.rejection.message})
                self.state.put(
                    "r", k, {"state": "rejected", "reason": c.rejection.reason, "fp": fp}
                )
            elif c.contact is not None:
                news.append(
                    Contact(
                        k,
                        c.contact.line,
                        c.contact.phone_input,
                        c.contact.to_phone_number,
                        c.contact.prompt_variables,
                    )
                )
        self.state.commit()
        return sorted(news, key=lambda c: c.line)

    # submitting -------------------------------------------------------------------
    def _body(self, name: str, contacts: list[Contact]) -> dict[str, Any]:
        cs = self.m.campaign
        body: dict[str, Any] = {
            "assistant_id": str(cs.assistant_id),
            "name": name,
            "launch": cs.launch,
            "contacts": [
                {"to_phone_number": c.to_phone_number, "prompt_variables": c.prompt_variables}
                for c in contacts
            ],
        }
        if cs.from_phone_number:
            body["from_phone_number"] = cs.from_phone_number
        if cs.max_concurrent_calls:
            body["max_concurrent_calls"] = cs.max_concurrent_calls
        if cs.scheduled_at:
            body["scheduled_at"] = cs.scheduled_at.isoformat()
        if cs.call_retry_config:
            body["call_retry_config"] = cs.call_retry_config.model_dump(exclude_none=True)
        return body

    def _submit(self, news: list[Contact], s: TickSummary) -> None:
        size = self.m.campaign.max_contacts
        for i in range(0, len(news), size):
            chunk = news[i : i + size]
            keys = [c.key for c in chunk]
            bid = batch_id(self.m.team, keys)
            seq = int(self.state.meta("batch_seq", 0)) + 1
            marker = f"[rx-{bid[:10]}]"
            name = self.m.campaign.name.format(
                team=self.m.team, date=self.clock().date().isoformat(), batch=seq
            )
            rec = {
                "state": "intent",
                "keys": keys,
                "marker": marker,
                "body": self._body(f"{name} {marker}", chunk),
            }
            for c in chunk:
                self.state.put(
                    "r", c.key, {"state": "queued", "batch": bid, "phone": c.to_phone_number}
                )
                self.state.put("p", c.to_phone_number, {"key": c.key})
            self.state.set_meta("batch_seq", seq)
            if not self._send(bid, rec, s):
                return

    def _send(self, bid: str, rec: Record, s: TickSummary) -> bool:
        """Journal the batch as intent, then POST it. False stops this tick's submitting."""
        rec["at"] = self.clock().isoformat()  # when the last attempt was sent (see settle)
        self.state.put("b", bid, rec)
        self.state.commit()  # the intent is durable before anything is sent
        failpoints.hit("after_intent")
        try:
            camp = self.revox.create_campaign(rec["body"])
            failpoints.hit("after_post")
        except RejectedError as exc:
            self._fail_batch(bid, rec, str(exc), s)
            return True
        except (AmbiguousError, RetryableError) as exc:
            s.errors.append(f"batch {bid}: {exc} (kept as intent, reconciled next tick)")
            return False
        self._adopt(bid, rec, camp, s)
        return True

    def _fail_batch(self, bid: str, rec: Record, message: str, s: TickSummary) -> None:
        s.errors.append(f"batch {bid} refused: {message}")
        for key, contact in zip(rec["keys"], rec["body"]["contacts"], strict=True):
            fp = self._contact_fp(contact["to_phone_number"], contact["prompt_variables"])
            self.state.put("r", key, {"state": "failed", "fp": fp, "error": message[:300]})
            self.state.delete("p", contact["to_phone_number"])
            self.state.queue_write(key, failed_values(self.m.write_back, message[:300]))
        rec.update(state="failed", error=message[:300], body=None)
        self.state.put("b", bid, rec)
        self.state.commit()

    def _adopt(self, bid: str, rec: Record, camp: Campaign, s: TickSummary) -> None:
        keys: list[str] = rec["keys"]
        phones = [c["to_phone_number"] for c in rec["body"]["contacts"]]
        self.state.put(
            "c",
            camp.id,
            {
                "state": "open",
                "batch": bid,
                "keys": keys,
                "launched": False,
                "sig": None,
                "name": camp.name,
            },
        )
        for i, (key, phone) in enumerate(zip(keys, phones, strict=True)):
            self.state.put(
                "r",
                key,
                {
                    "state": "submitted",
                    "batch": bid,
                    "phone": phone,
                    "campaign": camp.id,
                    "row_index": i,
                },
            )
            self.state.queue_write(key, submitted_values(self.m.write_back, camp.id))
        rec.update(state="created", campaign=camp.id, body=None)
        self.state.put("b", bid, rec)
        self.state.commit()
        failpoints.hit("after_record")
        s.campaigns_created += 1
        s.submitted += len(keys)
        if self.m.campaign.launch and camp.nothing_launched():
            self._launch(camp.id)

    def _launch(self, campaign_id: str) -> None:
        self.revox.launch(campaign_id)
        crec = self.state.get("c", campaign_id)
        if crec is not None:
            crec["launched"] = True
            self.state.put("c", campaign_id, crec)
            self.state.commit()

    def _reconcile_intents(self, s: TickSummary) -> None:
        intents = [(bid, rec) for bid, rec in self.state.scan("b") if rec["state"] == "intent"]
        if not intents:
            return
        try:
            remote = self.revox.list_campaigns()
        except RetryableError as exc:
            s.errors.append(f"reconciling {len(intents)} batch(es): {exc}")
            return
        for bid, rec in intents:
            found = [c for c in remote if rec["marker"] in c.name]
            age = (self.clock() - datetime.fromisoformat(rec["at"])).total_seconds()
            if found:
                log.info("batch %s: adopting campaign %s found by name", bid, found[0].id)
                self._adopt(bid, rec, found[0], s)
            elif age < self.settle_seconds:
                s.errors.append(
                    f"batch {bid}: not on Revox yet; re-sent only after {self.settle_seconds:g}s "
                    "in case the last attempt is still in flight"
                )
            elif not self._send(bid, rec, s):
                return

    # results ----------------------------------------------------------------------
    def _poll(self, s: TickSummary) -> None:
        wb = self.m.write_back
        log_calls = wb.log_call_task and isinstance(self.source, CallLogger)
        for cid, crec in list(self.state.scan("c")):
            if crec["state"] != "open":
                continue
            try:
                self._poll_one(cid, crec, s, log_calls)
            except NotFoundError:
                self._campaign_gone(cid, crec)
            except RetryableError as exc:
                s.errors.append(f"polling campaign {cid}: {exc}")
                return
        self.state.commit()

    def _poll_one(self, cid: str, crec: Record, s: TickSummary, log_calls: bool) -> None:
        camp = self.revox.get_campaign(cid)
        if self.m.campaign.launch and camp.nothing_launched():
            self._launch(cid)
            return
        sig = _digest({"c": camp.model_dump_json()})
        if sig == crec["sig"]:
            return
        keys: list[str] = crec["keys"]
        rows = self.revox.campaign_rows(cid)
        finals = 0
        for r in rows:
            if not 0 <= r.row_index < len(keys):
                continue
            key = keys[r.row_index]
            res = call_result(self.m.write_back, r, cid)
            if res is None:
                continue
            rec = self.state.row(key) or {"state": "submitted"}
            digest = _digest(res.values)
            if rec.get("result") != digest:
                self.state.queue_write(key, res.values)
                rec["result"] = digest
                s.results_written += 1
            if res.do_not_call and r.phone_number:
                self.state.put("d", r.phone_number, {"key": key, "outcome": res.outcome})
            if res.final:
                finals += 1
                if rec["state"] != "done" and log_calls and res.call_id:
                    log_rec = CallLog(
                        res.call_id,
                        key,
                        f"Revox call: {res.outcome or 'no outcome'}",
                        res.outcome,
                        res.summary,
                        res.ended_at,
                    )
                    self.state.put("l", res.call_id, log_rec.__dict__)
                rec["state"] = "done"
            self.state.put("r", key, rec)
        failpoints.hit("mid_poll")
        crec["sig"] = sig
        if finals >= len(keys) or (camp.is_cancelled and finals == len(rows)):
            crec["state"] = "final"
        self.state.put("c", cid, crec)
        self.state.commit()

    def _campaign_gone(self, cid: str, crec: Record) -> None:
        msg = "the campaign was deleted in Revox"
        for key in crec["keys"]:
            rec = self.state.row(key)
            if rec is not None and rec["state"] != "done":
                rec["state"] = "done"
                self.state.put("r", key, rec)
                self.state.queue_write(key, failed_values(self.m.write_back, msg))
        crec["state"] = "deleted"
        self.state.put("c", cid, crec)
        self.state.commit()

    # writing back -------------------------------------------------------------------
    def _flush(self, s: TickSummary) -> None:
        pending = list(self.state.scan("o"))
        if pending:
            updates = [RowUpdate(k, self._ordered(r["values"]), r["line"]) for k, r in pending]
            try:
                report = self.source.write_back(updates)
                failpoints.hit("after_write_back")
            except RetryableError as exc:
                s.errors.append(f"writing {len(updates)} row(s) back: {exc} (kept in the outbox)")
            else:
                for k in report.written | report.missing:
                    self.state.delete("o", k)
                for k, why in report.failed.items():
                    rec = dict(self.state.get("o", k) or {})
                    rec.update(attempts=int(rec.get("attempts", 0)) + 1, error=why)
                    self.state.put("o", k, rec)
                self.state.commit()
        self._flush_call_logs(s)

    def _ordered(self, values: dict[str, str]) -> dict[str, str]:
        """Cells in the mapping's column order, so new columns appear in that order."""
        wb = self.m.write_back
        order = [
            self.source.key_column or "",
            *wb.targets().values(),
            *wb.structured_output.values(),
        ]
        rank = {c: i for i, c in enumerate(order)}
        return dict(sorted(values.items(), key=lambda kv: rank.get(kv[0], len(rank))))

    def _flush_call_logs(self, s: TickSummary) -> None:
        if not isinstance(self.source, CallLogger):
            return
        pending = list(self.state.scan("l"))
        if not pending:
            return
        try:
            report = self.source.log_calls([CallLog(**r) for _, r in pending])
        except RetryableError as exc:
            s.errors.append(f"logging {len(pending)} call(s): {exc}")
            return
        for call_id in report.written | report.missing:
            self.state.delete("l", call_id)
        self.state.commit()
