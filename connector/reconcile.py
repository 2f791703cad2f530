"""`revox-sync state reconcile TEAM`: a state restored from an older backup, brought up
to date with Revox, so that nothing created after the backup is re-dialled or left unpolled.

Campaigns on Revox that carry this team's marker but that the state does not know were
created after the backup. Each is adopted: if its batch is still an intent in the journal,
the next tick's journal reconcile adopts it by name with the journal's own row keys;
otherwise its contacts are mapped back to rows through the source's keys and the numbers
(as `state rebuild` does). Adopted campaigns are open, so the ticks poll them to the end
and write their results into their rows. Rows whose number is in one of them are known as
submitted from now on: never sent again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from adapters.base import Source
from connector.config import Mapping
from connector.rebuild import RebuildReport, adopt, batch_of, ours, owners
from connector.revox import RevoxClient
from connector.state import StateStore


@dataclass
class ReconcileReport(RebuildReport):
    known: int = 0  # this team's campaigns the state already follows
    intents: list[str] = field(default_factory=list)  # left to the journal (by marker)

    def line(self) -> str:
        return (
            f"{self.known} campaign(s) already known; adopted {self.campaigns} unknown "
            f"campaign(s) covering {self.rows} row(s); {len(self.intents)} left to the "
            f"journal's next reconcile; {self.unmatched_contacts} contact(s) match no keyed "
            f"row; {self.other_teams} campaign(s) of other teams left alone"
        )


def reconcile(m: Mapping, source: Source, revox: RevoxClient, state: StateStore) -> ReconcileReport:
    """Adopt this team's campaigns that the state does not know; one commit at the end."""
    known = {cid for cid, _ in state.campaigns.scan()}
    intents = {bid: rec for bid, rec in state.batches.scan() if rec["state"] == "intent"}
    report = ReconcileReport()
    owner: dict[str, str] | None = None  # read from the source only when needed
    for camp in revox.list_campaigns().campaigns:
        mine = ours(camp.name, m.team)
        if mine is False:
            report.other_teams += 1
            continue
        if mine is None:
            continue  # no marker, or the older one without a team: not provably ours
        if camp.id in known:
            report.known += 1
            continue
        prefix = batch_of(camp.name)
        if any(bid.startswith(prefix) for bid in intents):
            report.intents.append(camp.id)  # the journal has its keys in order
            continue
        if owner is None:
            owner = owners(m, source)
        adopt(state, revox, camp, owner, report)
    state.set_meta("reconciled", report.line())
    state.commit()
    return report
