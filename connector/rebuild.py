"""`revox-sync state rebuild TEAM`: a lost or damaged state file, rebuilt from what
the source and Revox still know, so that nothing already submitted is submitted again.

The keys the connector wrote into the rows, and the campaigns on Revox whose names carry
this team's marker `[rx-<team tag>-<batch>]`, are enough: every Revox campaign row whose
number belongs to a keyed source row is adopted as that row's call. Another team's
campaigns (another tag) are left alone: their calls are not this team's rows'. Campaigns
with the older marker `[rx-<batch>]` do not say their team; they are adopted, the bias
being towards safety (a number found in one counts as already called).
"""

from __future__ import annotations

from dataclasses import dataclass

from adapters.base import Source, norm
from connector.config import Mapping
from connector.errors import ConfigError
from connector.journal import parse_marker, team_tag
from connector.mapping import Contact, Rejection, map_row, resolve
from connector.revox import Campaign, RevoxClient
from connector.state import StateStore

MARKER = "[rx-"


@dataclass
class RebuildReport:
    campaigns: int = 0
    rows: int = 0
    unmatched_contacts: int = 0
    other_teams: int = 0  # marked campaigns of other teams, left alone

    def line(self) -> str:
        return (
            f"adopted {self.campaigns} campaign(s) covering {self.rows} row(s); "
            f"{self.unmatched_contacts} contact(s) on Revox match no keyed row; "
            f"{self.other_teams} campaign(s) of other teams left alone"
        )


def ours(name: str, team: str) -> bool | None:
    """True: this team's marker; False: another team's; None: no marker or the older one
    without a team (`[rx-<batch>]`)."""
    parsed = parse_marker(name)
    if parsed is None:
        return None
    return parsed[0] == team_tag(team)


def batch_of(name: str) -> str:
    """The batch id prefix in a campaign's marker (either form)."""
    parsed = parse_marker(name)
    if parsed is not None:
        return parsed[1]
    return name[name.index(MARKER) + len(MARKER) :].split("]")[0]


def owners(m: Mapping, source: Source) -> dict[str, str]:
    """Phone (E.164) -> the key of the source row that has it; a row whose campaign cell
    is filled wins over a copy without one."""
    found = source.headers()
    rm = resolve(m, found, source.describe())
    headers = {norm(h): h for h in found}
    camp_col = headers.get(norm(m.write_back.targets().get("campaign", "")))
    owner: dict[str, tuple[str, str]] = {}  # e164 -> (key, campaign cell)
    for row in source.read_rows():
        if not row.key:
            continue
        mapped = map_row(rm, row)
        phone = mapped.to_phone_number if isinstance(mapped, Contact | Rejection) else None
        if phone is None:
            continue
        cell = row.values.get(camp_col, "") if camp_col else ""
        if phone not in owner or (cell and not owner[phone][1]):
            owner[phone] = (row.key, cell)
    return {phone: key for phone, (key, _) in owner.items()}


def adopt(
    state: StateStore,
    revox: RevoxClient,
    camp: Campaign,
    owner: dict[str, str],
    report: RebuildReport,
) -> None:
    """Record one campaign found on Revox as ours: its rows, numbers, batch; polled from the
    next tick on. A row the state already knows as submitted elsewhere is not moved."""
    rows = sorted(revox.campaign_rows(camp.id), key=lambda r: r.row_index)
    size = max((r.row_index for r in rows), default=-1) + 1
    keys = [""] * size
    bid = batch_of(camp.name)
    for r in rows:
        key = owner.get(r.phone_number)
        known = state.row(key) if key else None
        if key is None or (known and known.get("campaign") not in (None, camp.id)):
            report.unmatched_contacts += 1
            continue
        keys[r.row_index] = key
        state.rows.put(
            key,
            {
                "state": "submitted",
                "batch": bid,
                "campaign": camp.id,
                "row_index": r.row_index,
                "phone": r.phone_number,
            },
        )
        state.owners.put(r.phone_number, {"key": key})
        report.rows += 1
    if not any(keys):
        return
    # a current-generation campaign created but never launched (crash in between) is
    # launched by the next poll; launch-calls launches nothing twice
    state.campaigns.put(
        camp.id,
        {
            "state": "open",
            "batch": bid,
            "keys": keys,
            "launch": "pending" if camp.row_stats.not_launched else "done",
            "sig": None,
            "name": camp.name,
        },
    )
    marker = camp.name[camp.name.index(MARKER) :].split("]")[0] + "]"
    state.batches.put(
        bid,
        {"state": "created", "campaign": camp.id, "keys": keys, "marker": marker, "rebuilt": True},
    )
    report.campaigns += 1


def rebuild(m: Mapping, source: Source, revox: RevoxClient, state: StateStore) -> RebuildReport:
    """Fill an empty state from the source's keys and this team's marked campaigns."""
    if state.rows.any() or state.batches.any():
        raise ConfigError(
            f"{state.path}: the state is not empty; to adopt campaigns it does not know "
            f"(a restored backup) run `revox-sync state reconcile {m.team}`"
        )
    owner = owners(m, source)
    report = RebuildReport()
    for camp in revox.list_campaigns().campaigns:
        if MARKER not in camp.name:
            continue
        if ours(camp.name, m.team) is False:
            report.other_teams += 1
            continue
        adopt(state, revox, camp, owner, report)
    state.set_meta("rebuilt", report.line())
    state.commit()
    return report
