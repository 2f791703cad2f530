"""Launching campaigns in the current API generation, once each, and hearing opt-outs.

The current generation creates every call ``not_launched``; nothing is dialled until
``POST /campaigns/{id}/launch-calls``. The campaign record says ``launch: pending`` from
its creation until a launch is acknowledged, so a crash in between is followed by exactly
one more launch (launch-calls is harmless to repeat: a launched call is skipped). A
refused launch ends the campaign's rows as ``failed`` with the reason instead of stalling
the team (like the rows of a campaign deleted in Revox, they are not submitted again).

Opt-outs: the current generation has no opt-out outcome; the account's phone history
marks the number ``do_not_contact``. It is read at most once a tick, and only when there
is something to submit or a call ended. While the generation is unknown, its answer tells
it (only the current generation has one), before any campaign is created.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from connector.config import Mapping
from connector.errors import NotFoundError, RejectedError, RetryableError
from connector.results import end_rows
from connector.revox import PhoneHistoryEntry, RevoxClient
from connector.state import StateStore
from connector.summary import TickSummary

if TYPE_CHECKING:
    from connector.journal import Journal

log = logging.getLogger(__name__)


class Launcher:
    def __init__(self, m: Mapping, state: StateStore, revox: RevoxClient, journal: Journal) -> None:
        self.m, self.state, self.revox, self.journal = m, state, revox, journal
        self._history: dict[str, PhoneHistoryEntry] | None = None

    def new_tick(self) -> None:
        self._history = None

    @property
    def history(self) -> dict[str, PhoneHistoryEntry]:
        """The phone history read this tick (empty when not read)."""
        return self._history or {}

    def launch(self, cid: str, s: TickSummary) -> None:
        """Send the one launch a current-generation campaign needs; record it."""
        crec = self.state.campaigns.get(cid)
        if crec is None or crec.get("launch") != "pending":
            return
        at = self.m.campaign.scheduled_at
        try:
            try:
                launched = self.revox.launch_calls(cid, at.isoformat() if at else None)
            except NotFoundError:
                if self.journal.generation == "current":
                    raise  # launch-calls exists there: the campaign itself is gone
                # no launch-calls: a seed server that took the create without `launch`
                self.revox.launch(cid)
                self.journal.learn("seed")
                launched = -1
        except NotFoundError:
            return  # the campaign is gone: the poller says so in its rows
        except RejectedError as exc:
            self._refused(cid, str(exc), s)
            return
        except RetryableError as exc:
            s.fail(
                "launch",
                "revox",
                f"launching campaign {cid}: {exc} (sent again at the next poll)",
                exc,
            )
            return
        log.info("campaign %s: launched %s call(s)", cid, "all" if launched < 0 else launched)
        crec["launch"] = "done"
        self.state.campaigns.put(cid, crec)
        self.state.commit()

    def _refused(self, cid: str, reason: str, s: TickSummary) -> None:
        s.fail("launch", "revox", f"launching campaign {cid} refused: {reason}", retryable=False)
        crec = self.state.campaigns.get(cid) or {}
        text = f"Revox refused to launch the campaign: {reason}"[:300]
        known = self.state.rows.get_many(crec.get("keys", []))
        ending = [
            (k, r) for k, r in known.items() if r.get("campaign") == cid and r["state"] != "done"
        ]  # ended, like a deleted campaign's rows
        self.state.queue_writes(end_rows(self.state, self.m.write_back, ending, text, error=True))
        crec["state"], crec["launch"], crec["error"] = "final", "refused", text
        self.state.campaigns.put(cid, crec)
        self.state.commit()

    def opt_outs(self, phones: list[str]) -> set[str]:
        """Which of these numbers the account's phone history marks do_not_contact.

        Raises RetryableError when the history cannot be read: nothing may be submitted
        before it is. The seed generation has no history (404): nothing to add.
        """
        if not phones or self.journal.generation == "seed":
            return set()
        if self._history is None:
            try:
                self._history = self.revox.phone_history()
            except NotFoundError:  # only the current generation has a phone history
                self._history = {}
                self.journal.learn("seed")
            else:
                self.journal.learn("current")
        out = {p for p in phones if (e := self._history.get(p)) is not None and e.do_not_contact}
        self.journal.stop_numbers([(phone, "phone_history", "") for phone in sorted(out)])
        return out
