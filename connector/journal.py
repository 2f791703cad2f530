"""Submitting batches exactly once: the intent journal, refusals and reconcile-by-name.

A batch is journalled as `intent` (its rows marked queued, its numbers claimed) and
committed before POST /campaigns. After a crash, a timeout or a lost answer the intent
stays; before that batch is ever sent again, the campaigns on Revox are listed and the one
whose name starts with the batch's marker is adopted. An intent not found is re-sent only
once it is older than the settle time, so a request still in flight cannot land next to a
second one, and never on the evidence of a list that may be incomplete.

A refusal (4xx but 409) created nothing: a 422 naming ``launch``/``scheduled_at`` re-sends
the batch once in the other API generation's shape (generations.py); a refusal naming
contacts fails only those rows and sends the rest as a new batch in the same tick; one
naming no field is split in halves until the refused contacts are isolated.
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
from connector.dnc import DncStore
from connector.errors import RejectedError, RetryableError
from connector.generations import create_body, launch_needed, other, refusal
from connector.launcher import Launcher
from connector.mapping import Contact
from connector.progress import ProgressHook
from connector.records import BatchRecord, CampaignRecord, RowRecord
from connector.results import failed_values, submitted_values
from connector.revox import Campaign, Generation, NotSentError, RevoxClient
from connector.state import StateStore
from connector.summary import TickSummary

log = logging.getLogger(__name__)

# Campaign names start with the marker and are cut to this length: a server keeps a name
# of 100 characters (no Revox limit is documented; 100 is what a UI list shows whole).
NAME_CAP = 100
MAX_REFUSALS = 16  # refused requests spent isolating the bad contacts of one batch
_MARKER = re.compile(r"\[rx-([0-9a-f]{6})-([0-9a-f]{12})\]")


def batch_id(team: str, keys: list[str]) -> str:
    return hashlib.sha256("\0".join([team, *keys]).encode()).hexdigest()[:16]


def digest(values: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:16]


def team_tag(team: str) -> str:
    """Six hex characters naming the team in its campaigns' markers."""
    return hashlib.sha256(team.encode()).hexdigest()[:6]


def marker(team: str, bid: str) -> str:
    return f"[rx-{team_tag(team)}-{bid[:12]}]"


def parse_marker(name: str) -> tuple[str, str] | None:
    """(team tag, batch id prefix) of a campaign name made by this connector, else None."""
    m = _MARKER.search(name)  # at the start as sent; found anywhere if someone edited it
    return (m.group(1), m.group(2)) if m else None


def campaign_name(mark: str, name: str) -> str:
    return f"{mark} {name}"[:NAME_CAP].rstrip()


class Journal:
    """Turns new contacts into campaigns, each batch at most once."""

    def __init__(
        self,
        m: Mapping,
        state: StateStore,
        revox: RevoxClient,
        clock: Callable[[], datetime],
        settle_seconds: float,
        pinned: Generation | None = None,
        dnc: DncStore | None = None,
    ) -> None:
        self.m, self.state, self.revox, self.clock = m, state, revox, clock
        self.dnc = dnc
        self.settle_seconds = settle_seconds
        self.pinned = pinned
        self.launcher = Launcher(m, state, revox, self)
        self.progress: ProgressHook | None = None  # told of each batch created

    # the API generation -----------------------------------------------------------------
    @property
    def generation(self) -> Generation | None:
        """Pinned by the operator, or learnt from an earlier create; None while unknown."""
        if self.pinned is not None:
            return self.pinned
        known = self.state.meta("api_generation")
        return "current" if known == "current" else "seed" if known == "seed" else None

    def learn(self, gen: Generation) -> None:
        if self.pinned is None and self.state.meta("api_generation") != gen:
            log.info("team %s: the Revox API is the %s generation", self.m.team, gen)
            self.state.set_meta("api_generation", gen)

    def stop_numbers(self, stops: list[tuple[str, str, str]]) -> None:
        """Never submit these numbers (phone, source, row key) again, in this team or any
        team of the account: one statement in the state, one commit of the shared list."""
        if not stops:
            return
        self.state.opt_outs.put_many((p, {"key": k, "source": src}) for p, src, k in stops)
        if self.dnc is not None:
            self.dnc.add_many([(p, src) for p, src, _ in stops], self.m.team)

    def contact_fp(self, to_phone_number: str, variables: dict[str, str]) -> str:
        """What a refused contact is compared on: it is re-sent only once this changes."""
        settings = self.m.campaign.model_dump_json()
        return digest({"phone": to_phone_number, "vars": json.dumps(variables), "c": settings})

    # submitting -----------------------------------------------------------------------
    def submit(self, news: list[Contact], s: TickSummary, *, again: bool = False) -> bool:
        """Batch the contacts (campaign.max_contacts) and send each batch. ``again``: rows
        called before (callback, call again) get a batch id of their own. False when a
        batch could not be sent: nothing more is submitted this tick."""
        size = self.m.campaign.max_contacts
        for i in range(0, len(news), size):
            chunk = news[i : i + size]
            now = self.clock().isoformat()
            seq = int(self.state.meta("batch_seq", 0)) + 1
            name = self.m.campaign.name.format(
                team=self.m.team, date=self.clock().date().isoformat(), batch=seq
            )
            contacts = [
                {"to_phone_number": c.to_phone_number, "prompt_variables": c.prompt_variables}
                for c in chunk
            ]
            self.state.owners.put_many(
                (c.to_phone_number, {"key": c.key, "at": now}) for c in chunk
            )
            self.state.set_meta("batch_seq", seq)
            salt = f"#{seq}" if again else ""
            bid, rec = self._intent([c.key for c in chunk], contacts, name, 0, salt)
            if not self._send(bid, rec, s):
                return False
        return True

    def _intent(
        self,
        keys: list[str],
        contacts: list[dict[str, Any]],
        name: str,
        refusals: int,
        salt: str = "",
    ) -> tuple[str, BatchRecord]:
        """A new intent for these rows (not yet committed, never sent: `at` is None)."""
        bid = batch_id(self.m.team, [*keys, salt] if salt else keys)
        mark = marker(self.m.team, bid)
        gen = self.generation or "seed"
        body = create_body(gen, self.m.campaign, campaign_name(mark, name), contacts)
        self.state.rows.put_many(
            (
                (key, {"state": "queued", "batch": bid, "phone": c["to_phone_number"]})
                for key, c in zip(keys, contacts, strict=True)
            ),
        )
        rec: BatchRecord = {
            "state": "intent",
            "keys": keys,
            "marker": mark,
            "name": name,
            "gen": gen,
            "body": body,
            "at": None,
            "refusals": refusals,
        }
        if salt:
            rec["salt"] = salt
        self.state.batches.put(bid, rec)
        return bid, rec

    def _send(self, bid: str, rec: BatchRecord, s: TickSummary) -> bool:
        """Journal the batch as intent, then POST it. False stops this tick's submitting."""
        before = rec.get("at")
        rec["at"] = self.clock().isoformat()  # when the last attempt was sent (see settle)
        self.state.batches.put(bid, rec)
        self.state.commit()  # the intent is durable before anything is sent
        failpoints.hit("after_intent")
        try:
            camp = self.revox.create_campaign(_body(rec))
            failpoints.hit("after_post")
        except NotSentError as exc:  # nothing reached Revox: no settle time needed
            rec["at"] = before
            self.state.batches.put(bid, rec)
            self.state.commit()
            s.fail("submit", "revox", f"batch {bid}: {exc} (kept as intent, sent next tick)", exc)
            return False
        except RejectedError as exc:
            if exc.status == 409:  # "already exists" may mean an earlier attempt landed
                msg = f"batch {bid}: {exc} (kept as intent, reconciled next tick)"
                s.fail("submit", "revox", msg, exc, retryable=True)
                return False
            return self._refused(bid, rec, exc, s)
        except RetryableError as exc:  # AmbiguousError included: reconcile by name first
            msg = f"batch {bid}: {exc} (kept as intent, reconciled next tick)"
            s.fail("submit", "revox", msg, exc, retryable=True)
            return False
        self._adopt(bid, rec, camp, s)
        return True

    def _refused(self, bid: str, rec: BatchRecord, exc: RejectedError, s: TickSummary) -> bool:
        """Nothing was created: re-shape, isolate the refused contacts, or fail the batch."""
        contacts: list[dict[str, Any]] = _body(rec)["contacts"]
        ref = refusal(exc.status or 0, exc.body or str(exc), len(contacts))
        gen: Generation = "current" if rec.get("gen") == "current" else "seed"
        wrong_shape = ref.names_seed_fields() if gen == "seed" else ref.wants_launch()
        if exc.status == 422 and self.pinned is None and wrong_shape and not rec.get("reshaped"):
            new = other(gen)
            self.learn(new)
            name = rec.get("name") or _body(rec)["name"]
            body = create_body(new, self.m.campaign, campaign_name(rec["marker"], name), contacts)
            rec["gen"] = new
            rec["reshaped"] = True
            rec["body"] = body
            log.info("batch %s: the server refused the %s shape; re-sent as %s", bid, gen, new)
            return self._send(bid, rec, s)
        refusals = int(rec.get("refusals", 0)) + 1
        everyone = list(range(len(contacts)))
        if ref.contacts and len(ref.contacts) < len(contacts):
            bad = sorted(ref.contacts)
            groups = [[i for i in everyone if i not in ref.contacts]]
        elif len(contacts) > 1 and not ref.contacts and not ref.body_level():
            if refusals > MAX_REFUSALS:
                return self._fail(bid, rec, everyone, f"{ref.reason} (not isolated)", s)
            bad, half = [], len(contacts) // 2
            groups = [everyone[:half], everyone[half:]]
        else:
            return self._fail(bid, rec, everyone, ref.reason, s)
        msg = f"batch {bid} refused ({ref.reason}); {len(bad)} contact(s) isolated"
        s.fail("submit", "revox", msg, exc, retryable=False)
        self._fail_rows(rec, bad, ref.reason)
        children: list[tuple[str, BatchRecord]] = []
        name = rec.get("name") or _body(rec)["name"]
        for group in groups:
            keys = [rec["keys"][i] for i in group]
            group_contacts = [contacts[i] for i in group]
            salt = str(rec.get("salt", ""))
            children.append(self._intent(keys, group_contacts, name, refusals, salt))
        rec["state"] = "split"
        rec["body"] = None
        rec["children"] = [c for c, _ in children]
        self.state.batches.put(bid, rec)
        self.state.commit()  # the children replace the parent in one step
        return all(self._send(cbid, crec, s) for cbid, crec in children)

    def _fail(
        self, bid: str, rec: BatchRecord, which: list[int], reason: str, s: TickSummary
    ) -> bool:
        s.fail("submit", "revox", f"batch {bid} refused: {reason}", retryable=False)
        self._fail_rows(rec, which, reason)
        rec["state"] = "failed"
        rec["error"] = reason
        rec["body"] = None
        self.state.batches.put(bid, rec)
        self.state.commit()
        return True

    def _fail_rows(self, rec: BatchRecord, which: list[int], reason: str) -> None:
        """Refused contacts were never called: the row says why and the number is free."""
        writes = {}
        for i in which:
            key, contact = rec["keys"][i], _body(rec)["contacts"][i]
            fp = self.contact_fp(contact["to_phone_number"], contact["prompt_variables"])
            self.state.rows.put(key, {"state": "failed", "fp": fp, "error": reason})
            self.state.owners.delete(contact["to_phone_number"])
            writes[key] = failed_values(self.m.write_back, reason)
        self.state.queue_writes(writes)

    def _adopt(self, bid: str, rec: BatchRecord, camp: Campaign, s: TickSummary) -> None:
        keys: list[str] = rec["keys"]
        phones = [c["to_phone_number"] for c in _body(rec)["contacts"]]
        sent: Generation = "current" if rec.get("gen") == "current" else "seed"
        gen = camp.generation_hint() or sent
        self.learn(gen)
        pending = launch_needed(gen, self.m.campaign)
        crec: CampaignRecord = {
            "state": "open",
            "batch": bid,
            "keys": keys,
            "launch": "pending" if pending else "none",
            "sig": None,
            "name": camp.name,
        }
        self.state.campaigns.put(camp.id, crec)
        rows: list[tuple[str, RowRecord]] = [
            (
                key,
                {
                    "state": "submitted",
                    "batch": bid,
                    "phone": phone,
                    "campaign": camp.id,
                    "row_index": i,
                },
            )
            for i, (key, phone) in enumerate(zip(keys, phones, strict=True))
        ]
        self.state.rows.put_many(rows)
        cells = submitted_values(self.m.write_back, camp.id)
        self.state.queue_writes({k: dict(cells) for k in keys})
        rec["state"] = "created"
        rec["campaign"] = camp.id
        rec["body"] = None
        self.state.batches.put(bid, rec)
        self.state.commit()
        failpoints.hit("after_record")
        s.campaigns_created += 1
        s.submitted += len(keys)
        if self.progress is not None:
            self.progress("sent", len(keys))
        if pending:
            self.launcher.launch(camp.id, s)

    # after a crash or a lost answer ---------------------------------------------------
    def reconcile(self, s: TickSummary) -> None:
        """Settle every intent left by a crash or a lost answer before anything new is sent."""
        intents = [(bid, rec) for bid, rec in self.state.batches.scan() if rec["state"] == "intent"]
        # split before sending: _send stamps `at`, and a batch sent here is settled here
        unsent = [(bid, rec) for bid, rec in intents if rec.get("at") is None]
        sent = [(bid, rec) for bid, rec in intents if rec.get("at") is not None]
        for bid, rec in unsent:
            if not self._send(bid, rec, s):  # never sent: nothing to look for
                return
        if not sent:
            return
        try:
            listing = self.revox.list_campaigns()
        except RetryableError as exc:
            s.fail("reconcile", "revox", f"reconciling {len(sent)} batch(es): {exc}", exc)
            return
        for bid, rec in sent:
            found = [c for c in listing.campaigns if rec["marker"] in c.name]
            age = (self.clock() - datetime.fromisoformat(rec["at"] or "")).total_seconds()
            if found:
                log.info("batch %s: adopting campaign %s found by name", bid, found[0].id)
                self._adopt(bid, rec, found[0], s)
            elif not listing.complete:
                s.fail(
                    "reconcile",
                    "revox",
                    f"batch {bid}: not in the campaign list, but part of the list could not "
                    "be read; not re-sent until a complete list shows it is missing",
                )
            elif age < self.settle_seconds:
                s.fail(
                    "reconcile",
                    "revox",
                    f"batch {bid}: not on Revox yet; re-sent only after {self.settle_seconds:g}s "
                    "in case the last attempt is still in flight",
                )
            elif not self._send(bid, rec, s):
                return


def _body(rec: BatchRecord) -> dict[str, Any]:
    """The request body of a batch still to be sent (created and failed ones drop it)."""
    body = rec.get("body")
    if body is None:
        raise ValueError("a batch without its request body was about to be sent")
    return body
