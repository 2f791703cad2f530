"""Daemon logging: one JSON object per line (or a human line), secrets redacted by construction.

Why redaction lives in the formatter and not at the call sites: error messages are built
from what remote services answer (an HTTP 401 body may echo the Authorization header), from
paths and from exceptions of third-party libraries. Nobody can promise that every one of
them is secret-free, so everything a handler writes goes through ``Redactor.redact``: the
message, the traceback and every extra field, each before JSON encoding (escaping could
otherwise hide a secret that contains a quote or a non-ASCII character). The same redactor
guards the health endpoint and the systemd STATUS line.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, TextIO

from connector.redact import REDACTED, Redactor, secret_values
from connector.settings import LOG_LEVELS
from connector.summary import TickError, TickSummary, tick_result

__all__ = ["REDACTED", "Redactor", "secret_values"]

# Fields of a LogRecord that are not extras.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
EXTRA_ORDER = ("team", "tick", "event")
# TickSummary counts shown on every tick line.
COUNTS = (
    *("read", "filtered", "new", "rejected", "submitted", "campaigns_created"),
    *("results_written", "keys_assigned", "open_campaigns", "outbox"),
)


class _RedactingFormatter(logging.Formatter):
    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def fields(self, record: logging.LogRecord) -> dict[str, Any]:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        extras = {k: v for k, v in vars(record).items() if k not in _STANDARD}
        for key in EXTRA_ORDER:
            if key in extras:
                out[key] = extras.pop(key)
        try:
            out["message"] = record.getMessage()
        except (TypeError, ValueError):  # bad %-arguments: logging would print them to stderr
            out["message"] = f"{record.msg} (unformattable arguments)"
        out.update(extras)
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["exception"] = record.exc_text
        return {k: self.redactor.redact_obj(v) for k, v in out.items()}

    def format(self, record: logging.LogRecord) -> str:
        return self.render(self.fields(record))  # every field is redacted already

    def render(self, fields: dict[str, Any]) -> str:
        raise NotImplementedError


class JsonFormatter(_RedactingFormatter):
    """One JSON object per line: time, level, logger, team, tick, event, message, extras.

    The line itself is not redacted again: a secret equal to "true" or "team" would break
    the JSON, and fields redacted before encoding cannot contain a secret after it.
    """

    def render(self, fields: dict[str, Any]) -> str:
        return json.dumps(fields, ensure_ascii=False, default=str)


class TextFormatter(_RedactingFormatter):
    """``TIME LEVEL [team tick] message key=value ...`` for a human at a terminal."""

    def render(self, fields: dict[str, Any]) -> str:
        f = dict(fields)
        head = f"{f.pop('time')} {f.pop('level').upper():<7}"
        f.pop("logger")
        where = " ".join(str(f.pop(k)) for k in ("team", "tick") if k in f)
        exc = f.pop("exception", None)
        text = f"{head} {f'[{where}] ' if where else ''}{f.pop('message')}"
        rest = " ".join(f"{k}={json.dumps(v, default=str)}" for k, v in f.items())
        line = text + (f" {rest}" if rest else "") + (f"\n{exc}" if exc else "")
        return self.redactor.redact(line)  # once more: a human line has no syntax to break


def tick_fields(summary: object | None) -> dict[str, Any]:
    """The counts of a TickSummary as log fields (``errors`` is their number)."""
    if summary is None:
        return {}
    counts = {k: getattr(summary, k, None) for k in COUNTS}  # a renamed field: null, not a crash
    counts["errors"] = len(getattr(summary, "errors", []))
    return {"counts": counts}


def log_tick(
    logger: logging.Logger,
    ctx: dict[str, str],
    line: str,
    seconds: float,
    summary: TickSummary | None,
    errors: Sequence[TickError],
    retry_in: float | None,
    error: BaseException | None,
) -> None:
    """One line per tick: info when clean, warning with errors, error when the tick raised."""
    from connector.errors import ConnectorError

    result = tick_result(summary, errors)
    extra = {**ctx, "event": "tick", "result": result, "seconds": round(seconds, 3)}
    extra.update(tick_fields(summary))
    if not errors:
        logger.info(line, extra=extra)
        return
    extra.update(errors=[e.as_dict() for e in errors], retry_in=round(retry_in or 0.0, 1))
    bug = error if error is not None and not isinstance(error, ConnectorError) else None
    level = logging.WARNING if summary is not None else logging.ERROR
    logger.log(level, "%s; next attempt in %.0fs", line, retry_in or 0.0, extra=extra, exc_info=bug)


def describe_error(exc: BaseException) -> str:
    """Our errors are one clear line already; anything else is named by its type."""
    from connector.errors import ConfigError, ConnectorError

    if isinstance(exc, ConfigError):
        return "; ".join(exc.problems)
    return str(exc) if isinstance(exc, ConnectorError) else f"{type(exc).__name__}: {exc}"


def setup_logging(
    log_format: str, env: Mapping[str, str], stream: TextIO | None = None
) -> Redactor:
    """Send every log record (ours and the libraries') to one redacting handler on stdout."""
    redactor = Redactor(secret_values(env))
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(
        JsonFormatter(redactor) if log_format == "json" else TextFormatter(redactor)
    )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    level = env.get("REVOX_SYNC_LOG_LEVEL", "").strip().upper()  # validated by settings.py
    root.setLevel(level if level in LOG_LEVELS else "INFO")
    # One line per HTTP request or per scheduler run would drown the tick lines.
    for noisy in ("httpx", "httpcore", "urllib3", "apscheduler"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.captureWarnings(True)
    _route_uncaught_exceptions()
    return redactor


def _route_uncaught_exceptions() -> None:
    """Tracebacks that escape a thread would go to stderr unredacted; log them instead."""
    log = logging.getLogger("connector.daemon")

    def main_hook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        log.critical("uncaught exception", exc_info=(kind, exc, tb), extra={"event": "crash"})

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_value is None:
            return
        info = (args.exc_type, args.exc_value, args.exc_traceback)
        name = args.thread.name if args.thread else "?"
        log.error("uncaught exception in thread %s", name, exc_info=info, extra={"event": "crash"})

    sys.excepthook = main_hook
    threading.excepthook = thread_hook
