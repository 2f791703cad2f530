"""`revox-sync state rebuild TEAM`: a lost or damaged state file, rebuilt from what
the source and Revox still know, so that nothing already submitted is submitted again.

The keys the connector wrote into the rows, and the campaigns on Revox whose names carry
a batch marker `[rx-...]`, are enough: every Revox campaign row whose number belongs to a
keyed source row is adopted as that row's call. The bias is towards safety: a number found
in any marked campaign counts as already called.
"""

from __future__ import annotations

from dataclasses import dataclass

from adapters.base import Source
from connector.config import Mapping
from connector.errors import ConfigError
from connector.mapping import Contact, Rejection, map_row, norm, resolve
from connector.revox import RevoxClient
from connector.state import StateStore

MARKER = "[rx-"


@dataclass
class RebuildReport:
    campaigns: int = 0
    rows: int = 0
    unmatched_contacts: int = 0

    def line(self) -> str:
        return (
            f"adopted {self.campaigns} campaign(s) covering {self.rows} row(s); "
            f"{self.unmatched_contacts} contact(s) on Revox match no keyed row"
        )


def rebuild(m: Mapping, source: Source, revox: RevoxClient, state: StateStore) -> RebuildReport:
    """Fill an empty state from the source's keys and Revox's marked campaigns."""
    if state.count("r") or state.count("b"):
        raise ConfigError(f"{state.path}: the state is not empty; move it aside before a rebuild")
    rm = resolve(m, source.headers(), source.describe())
    headers = {norm(h): h for h in source.headers()}
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
    report = RebuildReport()
    for camp in revox.list_campaigns().campaigns:
        if MARKER not in camp.name:
            continue
        rows = sorted(revox.campaign_rows(camp.id), key=lambda r: r.row_index)
        size = max((r.row_index for r in rows), default=-1) + 1
        keys = [""] * size
        for r in rows:
            hit = owner.get(r.phone_number)
            if hit is None:
                report.unmatched_contacts += 1
                continue
            keys[r.row_index] = hit[0]
            state.put(
                "r",
                hit[0],
                {
                    "state": "submitted",
                    "campaign": camp.id,
                    "row_index": r.row_index,
                    "phone": r.phone_number,
                },
            )
            state.put("p", r.phone_number, {"key": hit[0]})
            report.rows += 1
        if not any(keys):
            continue
        bid = camp.name[camp.name.index(MARKER) + 4 :].split("]")[0]
        state.put(
            "c",
            camp.id,
            {
                "state": "open",
                "batch": bid,
                "keys": keys,
                "launched": True,
                "sig": None,
                "name": camp.name,
            },
        )
        state.put(
            "b",
            bid,
            {
                "state": "created",
                "campaign": camp.id,
                "keys": keys,
                "marker": f"{MARKER}{bid}]",
                "rebuilt": True,
            },
        )
        report.campaigns += 1
    state.set_meta("rebuilt", report.line())
    state.commit()
    return report
