"""HTTP plumbing of the Google Sheets source: credentials, session, bounded retries.

gspread's plain ``HTTPClient`` sends the requests (never ``BackOffHTTPClient``,
which retries forever in gspread 6.2.1). Every call goes through
``SheetsClient._call``, which retries 429/408/5xx (by HTTP status, so non-JSON
error pages count too) and, on reads, dropped connections and timeouts, a
bounded number of times with capped exponential backoff and jitter. Foreign
errors leave this module as ``connector.errors`` families, with ``raise ... from``.
Messages name the service account's ``client_email`` at most, never a token or key.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import google.auth
import gspread
import requests
from google.auth import exceptions as gauth_errors
from google.auth.credentials import Credentials
from google.auth.transport.requests import AuthorizedSession
from google.oauth2 import credentials as oauth2_credentials
from google.oauth2 import service_account
from gspread.exceptions import APIError
from gspread.http_client import ParamsType
from gspread.urls import (
    SPREADSHEET_VALUES_BATCH_UPDATE_URL,
    SPREADSHEET_VALUES_BATCH_URL,
    SPREADSHEET_VALUES_URL,
)
from gspread.utils import quote

from connector.errors import (
    AuthError,
    ConfigError,
    ConnectorError,
    RejectedError,
    TransientError,
)
from connector.retry import RetryPolicy, retry_after

log = logging.getLogger(__name__)

SCOPES = ("https://www.googleapis.com/auth/spreadsheets",)
SHEETS_API = "https://sheets.googleapis.com"
EMULATOR_ENV = "SHEETS_EMULATOR_HOST"
CREDENTIALS_ENV = "GOOGLE_APPLICATION_CREDENTIALS"
EMULATOR_TOKEN = "emulator"

T = TypeVar("T")

_CONNECTION_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.JSONDecodeError,
)


_JSON_BODY = {"Content-Type": "application/json"}


def _answer(response: requests.Response) -> Any:
    """The answer's JSON, decoded by requests (as gspread does). Not orjson: it reads an
    integer over 64 bits as a float. (The collector's thresholds are raised once per process,
    runtime._tune_gc, so a 100,000-row grid no longer sets off collection after collection.)"""
    return response.json()


class NoRetry(Exception):
    """Inside one attempt: fail now, without retrying (a write that may have landed)."""


class RangeError(ConfigError):
    """HTTP 400: a range does not fit the sheet any more (renamed tab, smaller grid).

    The source drops its cached metadata and tries once more before giving up.
    """


@dataclass(frozen=True)
class ResolvedAuth:
    """Credentials plus where to send requests; ``client_email`` is the only identity shown."""

    credentials: Credentials
    base_url: str | None
    client_email: str | None


def resolve_auth(env: Mapping[str, str], credentials_file: str | None) -> ResolvedAuth:
    """Pick credentials: explicit key file, emulator token, env key file, then ADC."""
    host = env.get(EMULATOR_ENV, "").strip()
    base_url = None
    if host:
        base_url = host.rstrip("/") if "://" in host else f"http://{host}"
    path = credentials_file
    if path is None and not host:
        path = env.get(CREDENTIALS_ENV) or None
    if path:
        sa = _load_service_account(path)
        return ResolvedAuth(sa, base_url, sa.service_account_email)
    if host:
        static = oauth2_credentials.Credentials(token=EMULATOR_TOKEN)  # type: ignore[no-untyped-call]
        return ResolvedAuth(static, base_url, None)
    try:
        creds, _project = google.auth.default(scopes=list(SCOPES))
    except gauth_errors.DefaultCredentialsError as exc:
        raise ConfigError(
            f"no Google credentials found: set {CREDENTIALS_ENV} in the environment file "
            "to a service-account JSON key file (the mapping takes no credentials)"
        ) from exc
    email = getattr(creds, "service_account_email", None)
    if not isinstance(email, str) or "@" not in email:
        email = None
    return ResolvedAuth(creds, base_url, email)


def _load_service_account(path: str) -> service_account.Credentials:
    try:
        return service_account.Credentials.from_service_account_file(  # type: ignore[no-untyped-call,no-any-return]
            path, scopes=list(SCOPES)
        )
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError(
            f"cannot read the Google service-account key file {path}: {reason}"
        ) from exc
    except (ValueError, KeyError) as exc:
        # The message of these may quote the file; name the problem, not the content.
        raise ConfigError(
            f"{path} is not a valid Google service-account JSON key file "
            "(download a new key for the service account)"
        ) from exc


class RedirectSession(AuthorizedSession):
    """An ``AuthorizedSession`` that sends Sheets API calls to ``base_url`` when set.

    gspread builds URLs from constants it imported by name, so the session is the
    one clean place to redirect it to a local emulator.
    """

    def __init__(self, credentials: Credentials, base_url: str | None) -> None:
        super().__init__(credentials)  # type: ignore[no-untyped-call]
        self._base_url = base_url

    def request(  # type: ignore[override]
        self, method: str, url: str, *args: Any, **kwargs: Any
    ) -> requests.Response:
        if self._base_url and url.startswith(SHEETS_API):
            url = self._base_url + url[len(SHEETS_API) :]
        response: requests.Response = super().request(method, url, *args, **kwargs)  # type: ignore[no-untyped-call]
        return response


class SheetsClient:
    """The few Sheets API calls the source makes, each with bounded retries.

    ``requests`` counts HTTP requests sent to the Sheets API (retries included).
    """

    def __init__(
        self,
        auth: ResolvedAuth,
        spreadsheet_id: str,
        *,
        timeout: float,
        max_retries: int,
        sleep: Callable[[float], None],
        rng: random.Random | None = None,
    ) -> None:
        self._auth = auth
        self._id = spreadsheet_id
        self._sleep = sleep
        # 1 s, 2 s, 4 s... up to 32 s: the Sheets API's per-minute quotas refill slowly
        self._retry = RetryPolicy(
            retries=max(0, max_retries), base=1.0, cap=32.0, rng=rng or random.Random()
        )
        self._session = RedirectSession(auth.credentials, auth.base_url)
        gc = gspread.Client(auth=auth.credentials, session=self._session)
        gc.set_timeout(timeout)
        self._timeout = timeout
        self._http = gc.http_client
        self.requests = 0

    def get_metadata(self) -> dict[str, Any]:
        """Spreadsheet properties and sheet list, without cell data."""
        params: ParamsType = {"includeGridData": "false", "fields": "sheets.properties"}
        return self._call(
            "reading the spreadsheet's metadata",
            lambda: self._http.fetch_sheet_metadata(self._id, params=params),
            read=True,
        )

    def values_get(self, a1: str, params: ParamsType) -> dict[str, Any]:
        """One ``values.get``."""
        url = SPREADSHEET_VALUES_URL % (self._id, quote(a1))
        return self._call(
            f"reading {a1}",
            lambda: _answer(self._http.request("get", url, params=dict(params))),
            True,
        )

    def values_batch_get(self, ranges: list[str], params: ParamsType) -> dict[str, Any]:
        """One ``values:batchGet`` of several ranges."""
        url = SPREADSHEET_VALUES_BATCH_URL % self._id
        query: ParamsType = {**params, "ranges": list(ranges)}
        return self._call(
            f"reading {', '.join(ranges)}",
            lambda: _answer(self._http.request("get", url, params=query)),
            read=True,
        )

    def values_batch_update(self, body: bytearray) -> None:
        """One ``values:batchUpdate`` of a JSON body encoded by the caller.

        The answer (one entry per range written) is checked for its shape, not decoded:
        nothing in it is used, and 100,000 ranges decode to 100,000 dicts.
        """
        url = SPREADSHEET_VALUES_BATCH_UPDATE_URL % self._id

        def send() -> dict[str, Any]:
            with self._session.request(
                "post", url, data=body, headers=_JSON_BODY, timeout=self._timeout, stream=True
            ) as response:
                if not response.ok:
                    raise APIError(response)
                ends = b""  # first and last non-blank bytes of the answer, read in pieces
                for piece in response.iter_content(1 << 16):
                    if piece := piece.strip():
                        ends = (ends[:1] or piece[:1]) + piece[-1:]
            if ends != b"{}":
                raise NoRetry("Google Sheets: writing cells: unexpected response shape")
            return {}

        self._call("writing cells", send, read=False)

    def batch_update(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """One ``spreadsheets:batchUpdate`` (structure changes)."""
        return self._call(
            "resizing the sheet", lambda: self._http.batch_update(self._id, body), read=False
        )

    def close(self) -> None:
        """Close the HTTP session (and the token session inside it)."""
        self._session.close()  # type: ignore[no-untyped-call]

    def _call(self, what: str, send: Callable[[], Any], read: bool) -> dict[str, Any]:
        """One request through the shared retry loop (connector/retry.py)."""

        def attempt() -> dict[str, Any]:
            self.requests += 1
            try:
                result = send()
            except APIError as exc:
                status = exc.response.status_code
                if status not in (408, 429) and status < 500:
                    raise self._for_status(exc, status, what) from exc
                wait = retry_after(exc.response.headers)
                raise TransientError(f"HTTP {status}", retry_after=wait, status=status) from exc
            except gauth_errors.RefreshError as exc:
                if not exc.retryable:
                    raise AuthError(self._auth_message("token refresh failed")) from exc
                raise TransientError("token endpoint unavailable") from exc
            except gauth_errors.TransportError as exc:
                raise TransientError("token endpoint unreachable") from exc
            except _CONNECTION_ERRORS as exc:
                reason = "timed out" if isinstance(exc, requests.Timeout) else "connection failed"
                if not read:
                    # The write may have landed; it is idempotent, so the next tick redoes it.
                    raise NoRetry(f"Google Sheets: {what} {reason}") from exc
                raise TransientError(reason) from exc
            if not isinstance(result, dict):
                raise NoRetry(f"Google Sheets: {what}: unexpected response shape")
            return result

        def give_up(last: TransientError, attempts: int) -> TransientError:
            return TransientError(
                f"Google Sheets: {what} failed ({last}) after {attempts} attempts",
                retry_after=last.retry_after,
                status=last.status,
            )

        try:
            return self._retry.run(
                attempt, sleep=self._sleep, what=f"Google Sheets: {what}", give_up=give_up
            )
        except NoRetry as exc:
            raise TransientError(str(exc)) from exc.__cause__

    def _for_status(self, exc: APIError, status: int, what: str) -> ConnectorError:
        message = str(exc.error.get("message", "")).strip() or exc.response.reason
        share = (
            f"share it with {self._auth.client_email} as Editor"
            if self._auth.client_email
            else "share it as Editor with the account whose credentials revox-sync uses"
        )
        if status == 401:
            return AuthError(self._auth_message(f"HTTP 401 while {what}"))
        if status == 403:
            return ConfigError(
                f"Google Sheets denied access to spreadsheet {self._id} while {what} "
                f"(HTTP 403: {message}); {share}"
            )
        if status == 404:
            return ConfigError(
                f"spreadsheet {self._id} was not found (HTTP 404); check its id or URL, and {share}"
            )
        if status == 400:
            return RangeError(f"Google Sheets rejected {what} (HTTP 400: {message})")
        return RejectedError(
            f"Google Sheets rejected {what} (HTTP {status}: {message})", status, message
        )

    def _auth_message(self, detail: str) -> str:
        email = self._auth.client_email
        subject = f"the credentials of service account {email}" if email else "the credentials"
        return f"Google refused {subject} ({detail}); check the key file or create a new key"
