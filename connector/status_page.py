"""Status at a glance (issue 14): the figures of `revox-sync status` and the HTML page that
`run --http` serves at `/`. Both read the same function, so they always agree.

Each team's state file is opened read-only (SQLite WAL: readers never block the daemon).
The page is plain HTML with inline CSS, no script: readable on a phone.
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from connector.outbox import parked
from connector.state import StateStore, state_path
from connector.summary import TickError


def team_status(state_dir: Path, team: str, now: datetime | None = None) -> dict[str, Any]:
    """One team's figures: rows by state, calls in progress, callbacks due, stopped rows,
    parked write-backs, open campaigns, outbox, last tick."""
    path = state_path(state_dir, team)
    out: dict[str, Any] = {
        "team": team, "rows": {}, "open_campaigns": 0, "outbox": 0, "parked": 0,
        "do_not_call": 0, "calls_in_progress": 0, "callbacks_due": 0, "callbacks_waiting": 0,
        "stopped": 0, "last_tick": None,
    }  # fmt: skip
    if not path.exists():
        return out
    when = now or datetime.now(UTC)
    with StateStore(path, readonly=True) as st:
        rows = dict(st.rows.scan())  # read once: every row figure comes from it
        out["rows"] = dict(Counter(r["state"] for r in rows.values()))
        out["open_campaigns"] = sum(1 for _, c in st.campaigns.states() if c == "open")
        outbox = [r for _, r in st.outbox.scan()]
        out["outbox"], out["parked"] = len(outbox), sum(1 for r in outbox if parked(r))
        out["do_not_call"] = st.opt_outs.count()
        out["calls_in_progress"] = sum(1 for r in rows.values() if r["state"] == "submitted")
        out["stopped"] = sum(1 for r in rows.values() if r.get("reason") == "stopped")
        for key, k in st.controls.scan():
            stop = k.get("stop") or {}
            if stop.get("state") in ("sent", "held", "intent"):
                out["stopped"] += 1
            p = k.get("pending")
            if p and p.get("from") == rows.get(key, {}).get("batch"):
                due = datetime.fromisoformat(p["due"]) <= when
                out["callbacks_due" if due else "callbacks_waiting"] += 1
        out["last_tick"] = st.meta("last_tick")
    return out


_CSS = (
    "body{font:16px/1.4 system-ui,sans-serif;margin:1em;max-width:40em}"
    "table{border-collapse:collapse;width:100%;margin-bottom:1.5em}"
    "td,th{padding:.3em .5em;border-bottom:1px solid #ddd;text-align:left}"
    "td.n{text-align:right;font-variant-numeric:tabular-nums}.err{color:#a00}"
)
FIGURES = [
    ("calls_in_progress", "calls in progress"),
    ("callbacks_due", "callbacks due"),
    ("callbacks_waiting", "callbacks waiting"),
    ("stopped", "stopped rows"),
    ("parked", "parked write-backs"),
    ("outbox", "write-backs pending"),
    ("open_campaigns", "open campaigns"),
    ("do_not_call", "do-not-call numbers"),
]


def render_html(report: Iterable[dict[str, Any]], redact: Callable[[str], str] = str) -> str:
    """The status page: one table per team; every figure carries data-figure for tests."""
    e = html.escape
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        '<meta name=viewport content="width=device-width,initial-scale=1">',
        f"<title>revox-sync status</title><style>{_CSS}</style></head><body>",
        "<h1>revox-sync</h1>",
    ]
    for r in report:
        team = e(str(r["team"]))
        parts.append(f'<section data-team="{team}"><h2>{team}</h2><table>')
        for state, n in sorted((r.get("rows") or {}).items()):
            cell = f'<td class=n data-figure="rows.{e(state)}">{n}</td>'
            parts.append(f"<tr><th>rows {e(state)}</th>{cell}</tr>")
        for name, label in FIGURES:
            parts.append(
                f'<tr><th>{label}</th><td class=n data-figure="{name}">{r.get(name, 0)}</td></tr>'
            )
        last = r.get("last_tick")
        at = e(str(last.get("at"))) if isinstance(last, dict) else "never"
        parts.append(f'<tr><th>last tick</th><td data-figure="last_tick">{at}</td></tr></table>')
        if isinstance(last, dict) and last.get("errors"):
            errs = e(redact("; ".join(TickError.from_dict(x).message for x in last["errors"])))
            parts.append(f"<p class=err>last errors: {errs}</p>")
        parts.append("</section>")
    parts.append("</body></html>\n")
    return "".join(parts)
