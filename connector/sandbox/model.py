"""The pure in-memory model behind the Revox sandbox: campaigns and their calls.

No I/O and no clock of its own: every method takes the simulated time ``now``
(seconds), and a call is a pure function of its launch, its position in that
launch, its cancellation and a scenario picked by hashing the phone number, so
any test can replay it. One call is rendered by ``calls.py``, validation is
``validate.py``, fixed answer parts are ``shapes.py``, HTTP is ``server.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from connector.revox_models import Generation
from connector.sandbox import calls, shapes
from connector.sandbox.calls import FINAL_STATUSES, SLOT_SECONDS, CampaignState, Launch
from connector.sandbox.shapes import SCENARIOS, scenario_for, uid

__all__ = ["FINAL_STATUSES", "SCENARIOS", "Conflict", "RevoxModel", "UnknownCampaign"]


class UnknownCampaign(Exception):
    """No campaign (or call) has this id."""


class Conflict(Exception):
    """The campaign is in a state that forbids the operation."""


class RevoxModel:
    """Campaigns and their calls; not thread-safe (the server holds one lock around it)."""

    def __init__(
        self,
        *,
        generation: Generation = "seed",
        seed: int = 0,
        scenarios: Mapping[str, str] | None = None,
        to_wall: Callable[[float], float] = lambda t: t,
        max_name_length: int | None = None,
    ) -> None:
        unknown = set((scenarios or {}).values()) - set(SCENARIOS)
        if unknown:
            raise ValueError(f"unknown scenarios {sorted(unknown)}; known: {list(SCENARIOS)}")
        self.generation: Generation = generation
        self.seed = seed
        self.organization_id = uid(seed, "organization")
        self.max_name_length = max_name_length
        self._overrides = dict(scenarios or {})
        self._to_wall = to_wall  # simulated seconds -> epoch seconds, for timestamps
        self._campaigns: dict[str, CampaignState] = {}
        self._calls: dict[str, tuple[str, int]] = {}  # call id -> (campaign id, row index)

    def iso(self, t: float | None) -> str | None:
        """A simulated time as an ISO 8601 UTC string (None stays None)."""
        return None if t is None else datetime.fromtimestamp(self._to_wall(t), UTC).isoformat()

    # --- commands ---

    def create(self, body: dict[str, Any], now: float, not_before: float | None) -> dict[str, Any]:
        """Store a validated create body; seed + ``launch: true`` starts dialling at once."""
        cid = uid(self.seed, "campaign", len(self._campaigns))
        phones = [c["to_phone_number"] for c in body["contacts"]]
        name = body["name"][: self.max_name_length] if self.max_name_length else body["name"]
        camp = CampaignState(
            cid, body, name, [self._overrides.get(p) or scenario_for(p, self.seed) for p in phones],
            created_at=now, updated_at=now, not_before=not_before,
        )  # fmt: skip
        camp.row_ids = [uid(self.seed, cid, "row", i) for i in range(len(phones))]
        camp.call_ids = [uid(self.seed, cid, "call", i) for i in range(len(phones))]
        self._calls.update((call_id, (cid, i)) for i, call_id in enumerate(camp.call_ids))
        self._campaigns[cid] = camp
        if self.generation == "seed" and body["launch"]:
            self._launch(camp, range(len(phones)), now, not_before)
        return self.campaign(cid, now)

    def _get(self, cid: str) -> CampaignState:
        try:
            return self._campaigns[cid]
        except KeyError:
            raise UnknownCampaign(cid) from None

    def _launch(
        self, camp: CampaignState, indices: Iterable[int], now: float, not_before: float | None
    ) -> int:
        """Give each index a slot, in order, after ``not_before``; return how many."""
        base = max(now, not_before) if not_before is not None else now
        count = 0
        for pos, i in enumerate(indices):
            camp.launches[i] = Launch(now, base, base + (pos // camp.concurrency) * SLOT_SECONDS)
            count += 1
        if count:
            camp.launched_at = now if camp.launched_at is None else camp.launched_at
            camp.touch(now)
        return count

    def launch(self, cid: str, now: float) -> None:
        """Seed generation: start dialling a draft; a second launch is a no-op."""
        camp = self._get(cid)
        if camp.cancelled_at is not None:
            raise Conflict("campaign is cancelled")
        if not camp.launches:
            self._launch(camp, range(len(camp.row_ids)), now, camp.not_before)

    def launch_calls(
        self, cid: str, body: dict[str, Any], now: float, not_before: float | None
    ) -> dict[str, Any]:
        """Current generation: launch the selected not_launched calls; a CampaignLaunchResponse."""
        camp = self._get(cid)
        if camp.cancelled_at is not None:
            raise Conflict("campaign is cancelled")
        selection = body["selection"]
        ids = set(selection["rows"]["call_ids"])
        only = selection["rows"]["mode"] == "only"
        fresh: list[int] = []
        skipped = {"active": 0, "attempts_exhausted": 0, "cancelled": 0}
        for i, call_id in enumerate(camp.call_ids):
            call = calls.render(self, camp, i, now)
            if (call_id in ids) != only or call is None:
                continue
            if not calls.matches(selection["filters"], call, camp.contacts[i]):
                continue
            if call["status"] == "not_launched":
                fresh.append(i)
            elif call["status"] == "cancelled":
                skipped["cancelled"] += 1
            elif call["status"] in FINAL_STATUSES:
                skipped["attempts_exhausted"] += 1
            else:
                skipped["active"] += 1
        launched = self._launch(camp, fresh, now, not_before)
        return {"launched": launched, "skipped": skipped, "session": None}

    def cancel(self, cid: str, now: float) -> None:
        """Cancel a campaign: every call not final by ``now`` ends ``cancelled``."""
        camp = self._get(cid)
        if camp.cancelled_at is None:
            camp.cancelled_at = now
            camp.touch(now)

    def cancel_call(self, call_id: str, now: float) -> None:
        """Cancel one call: it ends ``cancelled``, and is never dialled if not yet started."""
        cid, index = self._calls.get(call_id, ("", -1))
        camp = self._campaigns.get(cid)
        if camp is None or calls.render(self, camp, index, now) is None:
            raise UnknownCampaign(call_id)  # a seed draft's row has no call yet
        if index not in camp.call_cancels:
            camp.call_cancels[index] = now
            camp.touch(now)

    # --- queries ---

    def campaigns(self, now: float) -> list[dict[str, Any]]:
        """Every campaign, newest first."""
        return [self.campaign(cid, now) for cid in reversed(self._campaigns)]

    def campaign(self, cid: str, now: float) -> dict[str, Any]:
        """The Campaign JSON of this generation, with row stats computed at ``now``."""
        camp = self._get(cid)
        rendered = [calls.render(self, camp, i, now) for i in range(len(camp.row_ids))]
        statuses = [c["status"] if c else None for c in rendered]
        stats = {
            "total": len(rendered),
            "pending": sum(s in (None, "queued_for_calling", "scheduled") for s in statuses),
            "calling": sum(s in ("calling", "post_processing") for s in statuses),
            "retry": 0,
            "completed": statuses.count("completed"),
            "failed": sum(s in ("errored", "cancelled") for s in statuses),
        }
        if self.generation == "current":
            stats["not_launched"] = statuses.count("not_launched")
            stats["skipped"] = 0
        all_final = bool(rendered) and all(s in FINAL_STATUSES for s in statuses)
        if all_final:
            status = "completed"
        elif camp.launches or self.generation == "current":  # 0.5.0 has no "draft"
            status = "running"
        else:
            status = "draft"
        body = camp.body
        created = self.iso(camp.created_at)
        return {
            "id": cid,
            "name": camp.name,
            "assistant_id": body["assistant_id"],
            "organization_id": self.organization_id,
            "status": status,
            "is_cancelled": camp.cancelled_at is not None,
            "created_at": created,
            "updated_at": self.iso(camp.updated_at),
            "scheduled_at": body.get("scheduled_at"),
            "from_phone_number": body.get("from_phone_number"),
            "max_concurrent_calls": body.get("max_concurrent_calls"),
            "row_stats": stats,
            "call_retry_config": body.get("call_retry_config"),
            "structured_output_extraction": "completed" if all_final else "none",
            "assistant": shapes.assistant(
                body["assistant_id"], self.organization_id, created, self.generation
            ),
        }

    def rows(self, cid: str, now: float) -> list[dict[str, Any]]:
        """Every row of a campaign, in contact order."""
        camp = self._get(cid)
        return [
            {
                "id": camp.row_ids[i],
                "row_index": i,
                "phone_number": contact["to_phone_number"],
                "input_data": dict(contact["prompt_variables"]),
                "call": calls.render(self, camp, i, now),
            }
            for i, contact in enumerate(camp.contacts)
        ]

    def contacts(self) -> dict[str, list[str]]:
        """Campaign id -> its contacts' phone numbers, in order."""
        return {
            cid: [c["to_phone_number"] for c in camp.contacts]
            for cid, camp in self._campaigns.items()
        }

    def _awaited(self, camp: CampaignState, index: int) -> bool:
        if camp.cancelled_at is not None:
            return False
        # A current campaign nobody launched counts as waiting, so that a client that
        # never sends launch-calls waits forever instead of passing a test.
        return index in camp.launches or (self.generation == "current" and not camp.launches)

    def all_final(self, now: float) -> bool:
        """Whether every launched call of every non-cancelled campaign is final."""
        return all(
            (call := calls.render(self, camp, i, now)) is not None
            and call["status"] in FINAL_STATUSES
            for camp in self._campaigns.values()
            for i in range(len(camp.row_ids))
            if self._awaited(camp, i)
        )

    def call_count(self, now: float) -> int:
        """How many rows have a call object."""
        return sum(
            calls.render(self, camp, i, now) is not None
            for camp in self._campaigns.values()
            for i in range(len(camp.row_ids))
        )

    def phone_history(self, now: float) -> dict[str, dict[str, Any]]:
        """Current generation: every number whose call started dialling, by E.164."""
        out: dict[str, dict[str, Any]] = {}
        for camp in self._campaigns.values():
            for i, contact in enumerate(camp.contacts):
                call = calls.render(self, camp, i, now)
                if call is None or not call["call_attempts"]:
                    continue
                entry = out.setdefault(contact["to_phone_number"], {
                    "campaigns": [], "count": 0, "do_not_contact": False, "hot": False,
                    "last_called_at": None, "last_outcome": None, "reached_human": False,
                })  # fmt: skip
                ref = {"id": camp.id, "name": camp.name}
                if ref not in entry["campaigns"]:
                    entry["campaigns"].append(ref)
                entry["count"] += len(call["call_attempts"])
                started = call["call_attempts"][0]["started_at"]  # most recent first
                if entry["last_called_at"] is None or started > entry["last_called_at"]:
                    entry["last_called_at"] = started
                    if call["status"] in FINAL_STATUSES:
                        entry["last_outcome"] = call["outcome"]
                reached = any(a["result"] == "human" for a in call["call_attempts"])
                entry["reached_human"] = entry["reached_human"] or reached
                if call["status"] == "completed":
                    scn = SCENARIOS[camp.scenarios[i]]
                    entry["do_not_contact"] = entry["do_not_contact"] or scn.opt_out
                    entry["hot"] = entry["hot"] or call["outcome"] == "interested"
        return out
