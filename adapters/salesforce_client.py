"""The HTTP side of the Salesforce source: credentials, one guarded request path, SOQL helpers.

Every REST call of simple-salesforce (query, query_more, restful) goes through
``Salesforce._call_salesforce``; ``GuardedSalesforce`` replaces it with one that
puts a timeout on the request, re-authenticates at most once on an expired
session, backs off at most twice on limits and 5xx (only where repeating is
safe), reads ``Sforce-Limit-Info`` from every answer and maps every failure
into ``connector.errors``. The library's own re-login loop (three re-logins in
``Salesforce``, unbounded in ``SFType``) is never reached.
"""

from __future__ import annotations

import logging
import re
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from xml.parsers.expat import ExpatError

import jwt
import orjson
import requests
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import SalesforceAuthenticationFailed

from connector.errors import (
    AmbiguousError,
    AuthError,
    ConfigError,
    NotFoundError,
    RejectedError,
    TransientError,
)
from connector.redact import Redactor
from connector.retry import RetryPolicy, retry_after

log = logging.getLogger("adapters.salesforce")

USERNAME = "SALESFORCE_USERNAME"
PASSWORD = "SALESFORCE_PASSWORD"
SECURITY_TOKEN = "SALESFORCE_SECURITY_TOKEN"
CONSUMER_KEY = "SALESFORCE_CONSUMER_KEY"
PRIVATE_KEY_FILE = "SALESFORCE_PRIVATE_KEY_FILE"
SESSION_ID = "SALESFORCE_SESSION_ID"
INSTANCE_URL = "SALESFORCE_INSTANCE_URL"
EMULATOR_HOST = "SALESFORCE_EMULATOR_HOST"

MODES = {
    "jwt": (USERNAME, CONSUMER_KEY, PRIVATE_KEY_FILE),
    "password": (USERNAME, PASSWORD, SECURITY_TOKEN),
    "session": (SESSION_ID, INSTANCE_URL),
}
MAX_RETRIES = 2
SAFE_METHODS = frozenset({"GET", "HEAD", "PATCH", "PUT", "DELETE"})
_LIMIT_INFO = re.compile(r"(?:^|[;\s])api-usage=(\d+)/(\d+)")
_HOST_PORT = re.compile(r"^[A-Za-z0-9.\-]+:\d{1,5}$")


@dataclass(frozen=True)
class Credentials:
    """Which login flow to use, with its inputs (from the environment only)."""

    mode: str
    values: Mapping[str, str] = field(repr=False)
    emulator_host: str | None = None

    def secrets(self) -> list[str]:
        """Values that must never appear in a message or a log line."""
        names = (PASSWORD, SECURITY_TOKEN, SESSION_ID)
        return [v for n in names if len(v := self.values.get(n, "")) >= 4]


def resolve_credentials(env: Mapping[str, str]) -> Credentials:
    """Pick the auth mode from which variables are set; ConfigError names what is missing."""

    def has(name: str) -> bool:
        return bool(env.get(name))

    if has(SESSION_ID) or (has(INSTANCE_URL) and not has(USERNAME)):
        mode = "session"
    elif has(CONSUMER_KEY) or has(PRIVATE_KEY_FILE):
        mode = "jwt"
    elif has(USERNAME) or has(PASSWORD) or SECURITY_TOKEN in env:
        mode = "password"
    else:
        options = "; or ".join(f"{', '.join(names)} ({m})" for m, names in MODES.items())
        raise ConfigError(f"Salesforce credentials are not set: set {options}")
    # An empty security token is legitimate for orgs that trust the caller's IP range.
    missing = [n for n in MODES[mode] if not has(n) and not (n == SECURITY_TOKEN and n in env)]
    if missing:
        raise ConfigError(
            f"Salesforce {mode} credentials are incomplete: set {', '.join(missing)} "
            f"(this mode needs {', '.join(MODES[mode])})"
        )
    values = {n: env[n] for n in MODES[mode]}
    if mode == "session" and not values[INSTANCE_URL].startswith(("https://", "http://")):
        raise ConfigError(f"{INSTANCE_URL} must be a URL such as https://acme.my.salesforce.com")
    emulator = env.get(EMULATOR_HOST) or None
    if emulator is not None and not _HOST_PORT.match(emulator):
        raise ConfigError(f"{EMULATOR_HOST} must be HOST:PORT, such as 127.0.0.1:8766")
    return Credentials(mode, values, emulator)


class HttpSession(requests.Session):
    """A requests session with a default timeout, a request counter and an emulator switch.

    With ``emulator_host`` every URL (login hosts and the instance alike) is sent to
    ``http://emulator_host`` with its path and query kept: simple-salesforce always
    builds ``https://`` URLs.
    """

    def __init__(self, timeout: float, emulator_host: str | None = None) -> None:
        super().__init__()
        self.default_timeout = timeout
        self.emulator_host = emulator_host
        self.count = 0
        self.last_status = 0
        if emulator_host is not None:
            self.trust_env = False  # a proxy from the environment must not catch loopback calls

    def request(
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        if self.emulator_host is not None:
            parts = urllib.parse.urlsplit(url if isinstance(url, str) else url.decode())
            url = urllib.parse.urlunsplit(
                ("http", self.emulator_host, parts.path, parts.query, parts.fragment)
            )
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.default_timeout
        self.count += 1
        response = super().request(method, url, *args, **kwargs)
        self.last_status = response.status_code
        return response


def error_code(response: requests.Response) -> tuple[str, str]:
    """(errorCode, message) of a Salesforce REST error body, or ("", text)."""
    try:
        body = response.json()
    except ValueError:
        return "", response.text[:200]
    if isinstance(body, list) and body and isinstance(body[0], dict):
        return str(body[0].get("errorCode", "")), str(body[0].get("message", ""))
    if isinstance(body, dict):
        return str(body.get("errorCode") or body.get("error", "")), str(body.get("message", ""))
    return "", response.text[:200]


class SalesforceRequestError(RejectedError):
    """A 4xx answer Salesforce gave to a whole request; ``code`` is its errorCode."""

    def __init__(self, message: str, status: int, code: str, body: str) -> None:
        super().__init__(message, status, body)
        self.code = code


class ApiGuard:
    """The request policy shared by every call of one source.

    api_usage: the last ``Sforce-Limit-Info`` api-usage seen, as (used, max).
    """

    def __init__(
        self,
        *,
        min_remaining: int,
        sleep: Callable[[float], None],
        secrets: Sequence[str] = (),
    ) -> None:
        self.min_remaining = min_remaining
        self.sleep = sleep
        # two retries, 1 s then 2 s (no jitter: one process per org), or what Retry-After says
        self.retry = RetryPolicy(
            retries=MAX_RETRIES, base=2.0, cap=30.0, retry_after_cap=30.0, jitter=False
        )
        self.secrets = list(secrets)
        self._redactor = Redactor(self.secrets)
        self.api_usage: tuple[int, int] | None = None

    def redact(self, text: str) -> str:
        """Remove any known secret from a text meant for a message."""
        return self._redactor.redact(text)

    def check_floor(self) -> None:
        """Stop before a request once the org's daily API allowance is nearly spent."""
        if self.api_usage is None:
            return
        used, total = self.api_usage
        if total - used < self.min_remaining:
            raise TransientError(
                f"Salesforce daily API requests: {used} of {total} used, fewer than "
                f"min_remaining_requests={self.min_remaining} left; stopping until the "
                "rolling 24-hour allowance recovers"
            )

    def note_usage(self, response: requests.Response) -> None:
        """Read ``Sforce-Limit-Info`` from any answer."""
        match = _LIMIT_INFO.search(response.headers.get("Sforce-Limit-Info", ""))
        if match:
            self.api_usage = (int(match.group(1)), int(match.group(2)))
            log.debug("salesforce api usage %d/%d", *self.api_usage)

    def call(self, sf: GuardedSalesforce, method: str, url: str, kwargs: dict[str, Any]) -> Any:
        """Send one request with the policy above; return the response or raise a ConnectorError."""
        extra = kwargs.pop("headers", None) or {}
        what = f"{method} {_short(url)}"
        safe = method.upper() in SAFE_METHODS
        relogged = False

        def attempt() -> Any:
            self.check_floor()
            try:
                response = sf.session.request(
                    method, url, headers={**sf.headers, **extra}, **kwargs
                )
            except requests.RequestException as exc:
                # Only a connect timeout proves the request never left; anything else on a
                # POST may have been applied, and repeating it could create a duplicate.
                if not safe and not isinstance(exc, requests.ConnectTimeout):
                    raise AmbiguousError(
                        f"Salesforce {what}: no answer ({type(exc).__name__}); "
                        "it may have been applied"
                    ) from exc
                raise TransientError(f"Salesforce {what}: {type(exc).__name__}") from exc
            self.note_usage(response)
            status = response.status_code
            if status < 300:
                return response
            code, message = error_code(response)
            detail = self.redact(f"Salesforce {what}: HTTP {status} {code}: {message}".strip())
            if status == 401:
                if code == "INVALID_SESSION_ID" and sf.can_relogin and not relogged:
                    raise _SessionExpired(detail)
                raise AuthError(detail + " (the session was refused; check the credentials)")
            limited = code == "REQUEST_LIMIT_EXCEEDED" or status == 429
            if limited or status >= 500:
                if not (safe or limited):
                    raise AmbiguousError(detail + " (it may have been applied)")
                raise TransientError(
                    detail, retry_after=retry_after(response.headers), status=status
                )
            if status == 403:
                raise AuthError(detail + " (the API user lacks a permission)")
            if status == 404:
                raise NotFoundError(detail)
            raise SalesforceRequestError(detail, status, code, response.text[:2000])

        while True:
            try:
                return self.retry.run(attempt, sleep=self.sleep)
            except _SessionExpired:
                relogged = True  # once: a session that keeps expiring is an auth error
                log.info("salesforce session expired; logging in again")
                sf.relogin()


class _SessionExpired(Exception):
    """Inside an attempt: log in again and re-send (once)."""


def _short(url: str) -> str:
    """The path of a request without the API prefix or the query (which may be long SOQL)."""
    path = urllib.parse.urlsplit(url).path
    return re.sub(r"^/services/data/v[\d.]+/", "", path)


class GuardedSalesforce(Salesforce):
    """simple-salesforce with every REST call routed through an ``ApiGuard``."""

    def __init__(self, *, guard: ApiGuard, **kwargs: Any) -> None:
        # Set before super().__init__: Salesforce.__getattr__ turns unknown names into SFTypes.
        self.guard = guard
        super().__init__(**kwargs)

    @property
    def can_relogin(self) -> bool:
        """False for a session id given from outside: there is nothing to log in with."""
        return self._salesforce_login_partial is not None

    def relogin(self) -> None:
        """Log in again once; a refusal is an AuthError."""
        try:
            self._refresh_session()
        except SalesforceAuthenticationFailed as exc:
            raise login_error(exc, self.guard, getattr(self.session, "last_status", 0)) from exc
        except requests.RequestException as exc:
            raise TransientError(f"Salesforce login: {type(exc).__name__}") from exc

    def parse_result_to_json(self, result: requests.Response) -> Any:
        """The JSON of an answer; a garbled 2xx body is transient, not a foreign error.
        orjson decodes a 2,000-record query page 2.6x faster; what it refuses (not
        UTF-8, NaN) goes to the library's own decoding. The two agree on every number a
        field holds (at most 18 digits: within orjson's 64-bit integers)."""
        try:
            return orjson.loads(result.content)
        except orjson.JSONDecodeError:
            pass
        try:
            return super().parse_result_to_json(result)
        except ValueError as exc:
            what = f"{result.request.method} {_short(result.url)}"
            raise TransientError(f"Salesforce {what}: the answer is not JSON") from exc

    def _call_salesforce(
        self,
        method: str,
        url: str,
        name: str = "",
        retries: int = 0,
        max_retries: int = 3,
        **kwargs: Any,
    ) -> requests.Response:
        response: requests.Response = self.guard.call(self, method, url, kwargs)
        return response


def login_error(exc: SalesforceAuthenticationFailed, guard: ApiGuard, status: int) -> Exception:
    """A refused login is an AuthError; a login endpoint that is down is transient.

    Salesforce refuses a SOAP login with HTTP 500 and a LoginFault code, so a 5xx
    counts as an outage only when the answer carries no fault code.
    """
    code = exc.code
    message = guard.redact(exc.auth_message)[:300]
    if not isinstance(code, str) and (status >= 500 or status == 429):
        return TransientError(f"Salesforce login endpoint answered HTTP {status}")
    return AuthError(f"Salesforce refused the login: {code}: {message}")


def connect(
    creds: Credentials,
    *,
    domain: str,
    version: str,
    session: HttpSession,
    guard: ApiGuard,
) -> GuardedSalesforce:
    """Log in (or take the session id) and return a guarded client."""
    v = creds.values
    common: dict[str, Any] = {
        "guard": guard,
        "version": version,
        "session": session,
        "object_pairs_hook": dict,
    }
    try:
        if creds.mode == "session":
            return GuardedSalesforce(
                session_id=v[SESSION_ID], instance_url=v[INSTANCE_URL], **common
            )
        if creds.mode == "password":
            return GuardedSalesforce(
                username=v[USERNAME],
                password=v[PASSWORD],
                security_token=v[SECURITY_TOKEN],
                domain=domain,
                **common,
            )
        return GuardedSalesforce(
            username=v[USERNAME],
            consumer_key=v[CONSUMER_KEY],
            privatekey_file=v[PRIVATE_KEY_FILE],
            domain=domain,
            **common,
        )
    except SalesforceAuthenticationFailed as exc:
        raise login_error(exc, guard, session.last_status) from exc
    except (requests.RequestException, ExpatError) as exc:
        raise TransientError(f"Salesforce login: {type(exc).__name__}") from exc
    except OSError as exc:
        raise ConfigError(
            f"{PRIVATE_KEY_FILE}: cannot read the key file ({exc.strerror or exc})"
        ) from exc
    except (ValueError, TypeError, jwt.PyJWTError) as exc:  # a key that is not PEM RSA
        raise ConfigError(
            f"{PRIVATE_KEY_FILE} does not hold a PEM RSA private key usable for the JWT flow"
        ) from exc


# --- SOQL and values -------------------------------------------------------------------------
