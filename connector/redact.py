"""The one redactor: secrets never reach a log line, an error, /healthz or a cassette.

Used by the logs, the CLI's error lines, the health board, and the HTTP clients' error
messages (a proxy or a server may echo the Authorization header in its body).
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Iterable, Mapping
from typing import Any

REDACTED = "[REDACTED]"
# Always secrets (when at least _MIN_LEN long; shorter would blank out ordinary text).
SECRET_NAMES = (
    "REVOX_API_KEY",
    "SALESFORCE_PASSWORD",
    "SALESFORCE_SECURITY_TOKEN",
    "SALESFORCE_SESSION_ID",
    "SALESFORCE_CONSUMER_KEY",
)
# Any other variable whose name contains one of these words is treated as a secret too.
# (A path such as SALESFORCE_PRIVATE_KEY_FILE is redacted too: harmless, and simpler to trust.)
SECRET_WORDS = ("KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD")
# Only whole secrets this long are redacted: a 3- or 4-letter value ("key", "1234") would
# blank out pieces of ordinary words ("invalid API [REDACTED]ey") and hide the message.
_MIN_LEN = 8
# A token after "Bearer", unless already redacted (redaction runs twice: fields, then line).
_BEARER = re.compile(r"(?i)\b(bearer)(\s+|%20)(?!\[REDACTED\])[^\s\"',;}\]\\]+")


def secret_values(env: Mapping[str, str]) -> list[str]:
    """Every value of the environment that must never be written anywhere."""
    found = set()
    for name, value in env.items():
        upper = name.upper()
        named = upper in SECRET_NAMES or any(w in upper for w in SECRET_WORDS)
        if named and len(value.strip()) >= _MIN_LEN:
            found.add(value.strip())
    return sorted(found, key=len, reverse=True)  # longest first: no partial leftovers


class Redactor:
    """Replaces known secret values (and their common encodings) and Bearer tokens."""

    def __init__(self, secrets: Iterable[str]) -> None:
        variants: set[str] = set()
        for s in secrets:
            variants.update(
                {s, json.dumps(s)[1:-1], json.dumps(s, ensure_ascii=False)[1:-1], repr(s)[1:-1]}
            )
            variants.add(urllib.parse.quote(s, safe=""))
            variants.add(urllib.parse.quote_plus(s))
        ordered = sorted((v for v in variants if len(v) >= _MIN_LEN), key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def redact(self, text: str) -> str:
        """The text with every secret replaced by [REDACTED]."""
        if self._pattern is not None:
            text = self._pattern.sub(REDACTED, text)
        return _BEARER.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)

    def redact_obj(self, obj: Any) -> Any:
        """Redact every string inside a JSON-like value."""
        if isinstance(obj, str):
            return self.redact(obj)
        if isinstance(obj, Mapping):
            return {self.redact(str(k)): self.redact_obj(v) for k, v in obj.items()}
        if isinstance(obj, list | tuple | set):
            return [self.redact_obj(v) for v in obj]
        if obj is None or isinstance(obj, bool | int | float):
            return obj
        return self.redact(str(obj))
