"""Submitting batches exactly once: the intent journal and reconcile-by-name.

A batch is journalled as `intent` (its rows marked queued, its numbers claimed) and
committed before POST /campaigns. After a crash, a timeout or a lost answer the intent
stays; before that batch is ever sent again, the campaigns on Revox are listed and the one
whose name carries the batch's marker is adopted. An intent not found is re-sent only once
it is older than the settle time, so a request still in flight cannot land next to a
second one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from connector import failpoints
from connector.config import Mapping
from connector.errors import AmbiguousError, RejectedError, RetryableError
from connector.mapping import Contact
from connector.results import failed_values, submitted_values
from connector.revox import Campaign, RevoxClient
from connector.state import Record, StateStore
from connector.summary import TickSummary

log = logging.getLogger(__name__)


def batch_id(team: str, keys: list[str]) -> str:
    return hashlib.sha256("\0".join([team, *keys]).encode()).hexdigest()[:16]


def digest(values: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:16]


class Journal:
    """Turns new contacts into campaigns, each batch at most once."""

    def __init__(
        self,
        m: Mapping,
        state: StateStore,
        revox: RevoxClient,
        clock: Callable[[], datetime],
        settle_seconds: float,
    ) -> None:
        self.m, self.state, self.revox, self.clock = m, state, revox, clock
        self.settle_seconds = settle_seconds

    def contact_fp(self, to_phone_number: str, variables: dict[str, str]) -> str:
        """What a refused contact is compared on: it is re-sent only once this changes."""
        settings = self.m.campaign.model_dump_json()
        return digest({"phone": to_phone_number, "vars": json.dumps(variables), "c": settings})

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

    def submit(self, news: list[Contact], s: TickSummary) -> None:
        """Batch the contacts (campaign.max_contacts) and send each batch."""
        size = self.m.campaign.max_contacts
        for i in range(0, len(news), size):
            chunk = news[i : i + size]
            keys = [c.key for c in chunk]
            bid = batch_id(self.m.team, keys)
            seq = int(self.state.meta("batch_seq", 0)) + 1
            marker = f"[rx-{team_tag(self.m.team)}-{bid[:12]}]"  # whose, which batch
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
            self._fail(bid, rec, str(exc), s)
            return True
        except (AmbiguousError, RetryableError) as exc:
            s.errors.append(f"batch {bid}: {exc} (kept as intent, reconciled next tick)")
            return False
        self._adopt(bid, rec, camp, s)
        return True

    def _fail(self, bid: str, rec: Record, message: str, s: TickSummary) -> None:
        s.errors.append(f"batch {bid} refused: {message}")
        text = message[:300]
        writes = {}
        for key, contact in zip(rec["keys"], rec["body"]["contacts"], strict=True):
            fp = self.contact_fp(contact["to_phone_number"], contact["prompt_variables"])
            self.state.put("r", key, {"state": "failed", "fp": fp, "error": text})
            self.state.delete("p", contact["to_phone_number"])  # never called: not claimed
            writes[key] = failed_values(self.m.write_back, text)
        self.state.queue_writes(writes)
        rec.update(state="failed", error=text, body=None)
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
        self.state.queue_writes({k: submitted_values(self.m.write_back, camp.id) for k in keys})
        rec.update(state="created", campaign=camp.id, body=None)
        self.state.put("b", bid, rec)
        self.state.commit()
        failpoints.hit("after_record")
        s.campaigns_created += 1
        s.submitted += len(keys)
        if self.m.campaign.launch and camp.nothing_launched():
            self.launch(camp.id)

    def launch(self, campaign_id: str) -> None:
        """Start a campaign whose calls were all created not_launched (newer API)."""
        self.revox.launch(campaign_id)
        crec = self.state.get("c", campaign_id)
        if crec is not None:
            crec["launched"] = True
            self.state.put("c", campaign_id, crec)
        self.state.commit()

    def reconcile(self, s: TickSummary) -> None:
        """Settle every intent left by a crash or a lost answer before anything new is sent."""
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


# Campaign-name markers that say which team made a campaign (state rebuild and state
# reconcile adopt only their own team's). Kept at the end of the module on purpose: the
# client branch defines the same two functions; the integrator keeps one copy.
_MARKER = re.compile(r"\[rx-([0-9a-f]{6})-([0-9a-f]{12})\]")


def team_tag(team: str) -> str:
    """6 hex digits of sha256(team): short, and the same on every host."""
    return hashlib.sha256(team.encode()).hexdigest()[:6]


def parse_marker(name: str) -> tuple[str, str] | None:
    """(team tag, batch id prefix) of a campaign named with a `[rx-<tag>-<bid12>]` marker."""
    found = _MARKER.search(name)
    return None if found is None else (found.group(1), found.group(2))
