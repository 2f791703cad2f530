"""Screening new contacts just before they are sent: a number Revox's phone history marks
do-not-contact (current generation) or that another team's campaign called within
``contacts.dedupe`` (callbacks.elsewhere) is rejected, with its reason in the row."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from connector.callbacks import elsewhere
from connector.config import Mapping
from connector.errors import RetryableError
from connector.journal import Journal
from connector.keys import store_rejections
from connector.mapping import DO_NOT_CALL, Contact, Rejection
from connector.state import StateStore
from connector.summary import TickSummary


def screen(
    m: Mapping,
    journal: Journal,
    state: StateStore,
    clock: Callable[[], datetime],
    news: list[Contact],
    s: TickSummary,
) -> list[Contact] | None:
    """The contacts that may be sent; the others' rejections stored and queued for their
    rows (one step). None when the phone history could not be read: nothing is sent."""
    try:
        stopped = journal.launcher.opt_outs([c.to_phone_number for c in news])
    except RetryableError as exc:
        msg = f"reading the phone history before submitting: {exc} (sent next tick)"
        s.fail("phone_history", "revox", msg, exc)
        return None
    others = elsewhere(m, journal.launcher.history, news, clock())
    if not stopped and not others:
        return news
    rejections: list[tuple[str, Rejection]] = []
    for c in news:
        if c.key in others:
            rejections.append((c.key, others[c.key]))
        elif c.to_phone_number in stopped:
            msg = (
                f"{c.to_phone_number} asked not to be called again (Revox's phone history "
                "marks it do-not-contact); it is never submitted."
            )
            rej = Rejection(c.key, c.line, c.phone_input, DO_NOT_CALL, msg, c.to_phone_number)
            rejections.append((c.key, rej))
    s.rejected += len(rejections)
    known = state.rows.get_many(k for k, _ in rejections)
    writes = store_rejections(
        state, m.write_back, [(k, r, known.get(k), None) for k, r in rejections]
    )
    state.queue_writes(writes)
    state.commit()
    return [c for c in news if c.to_phone_number not in stopped and c.key not in others]
