"""The Revox client's HTTP layer: one httpx client, bounded retries, errors by family.

Reads are retried with backoff on 429/5xx/timeouts, honouring Retry-After. A 429 on any
POST is waited out and re-sent (nothing was applied). A non-idempotent POST is otherwise
never retried here: a 5xx, a timeout or a dropped connection after the request was sent
raises AmbiguousError.

A poll sends hundreds of GETs a tick, so a GET of a plain path skips httpx's per-call
work (merging the base URL, the parameters and the client's headers): the same request
is built from a prepared base, headers and timeout and handed to the transport httpx
would pick for it (proxies and test transports included). Anything else (a path httpx
would escape, a cookie to send back) goes through ``httpx.Client`` as usual.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx
import orjson

from connector.errors import (
    AmbiguousError,
    AuthError,
    NotFoundError,
    RejectedError,
    TransientError,
)
from connector.redact import Redactor
from connector.retry import RetryPolicy, retry_after

T = TypeVar("T")
# A path joined to the base URL as is: what httpx would neither escape nor split.
_PLAIN_PATH = re.compile(r"/[A-Za-z0-9/_.~-]*")
_JSON = {"Content-Type": "application/json"}


class NotSentError(TransientError):
    """Nothing reached the server (connection refused, 429 until we gave up): safe to re-send."""


def _raise_for(resp: httpx.Response, what: str, redactor: Redactor) -> None:
    code = resp.status_code
    if code < 300:
        return
    # a proxy or a server may echo the request headers: never show the key
    body = redactor.redact(resp.text[:300].replace("\n", " "))
    msg = f"Revox {what}: HTTP {code}: {body}"
    if code in (401, 403):
        auth = AuthError(f"{msg} (check REVOX_API_KEY)")
        auth.status = code
        raise auth
    if code == 404:
        gone = NotFoundError(msg)
        gone.status = code
        raise gone
    if code == 429 or code >= 500:
        raise TransientError(msg, retry_after=retry_after(resp.headers), status=code)
    raise RejectedError(msg, status=code, body=resp.text)


def json_of(resp: httpx.Response) -> Any:
    """The answer's JSON (orjson: a rows page decodes 5x faster); an answer that is not
    JSON raises the json module's ValueError, whose message the errors quote."""
    try:
        return orjson.loads(resp.content)
    except orjson.JSONDecodeError:
        return resp.json()


class RevoxHttp:
    """GET and POST against one Revox base URL with one key; closed by its owner."""

    def __init__(
        self,
        api_key: str,
        base_url: str,
        *,
        timeout: float,
        max_retries: int,
        max_backoff: float,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {api_key}", "User-Agent": "revox-sync/0.1"},
            timeout=timeout,
            transport=transport,
        )
        base = str(self._client.base_url).rstrip("/")  # as httpx normalised it
        self._base = base if "?" not in base and "#" not in base else None
        self._headers = httpx.Headers(self._client.headers)
        self._extensions = {"timeout": self._client.timeout.as_dict()}
        self._redactor = Redactor([api_key])
        self._retry = RetryPolicy(
            retries=max_retries, base=0.5, cap=max_backoff, retry_after_cap=max_backoff
        )
        self._sleep = sleep
        self.requests = 0

    def close(self) -> None:
        self._client.close()

    def get(self, path: str, params: dict[str, int] | None = None) -> Any:
        """GET the answer's JSON, with bounded retries (connector/retry.py)."""
        return self.get_with(path, params, json_of)

    def get_with(
        self, path: str, params: dict[str, int] | None, read: Callable[[httpx.Response], T]
    ) -> T:
        """GET with bounded retries: safe to repeat. ``read`` turns the answer into the
        result; its ValueError (not JSON) is retried like a transport error."""

        def attempt() -> T:
            self.requests += 1
            try:
                resp = self._send_get(path, params)
                _raise_for(resp, f"GET {path}", self._redactor)
                return read(resp)
            except (httpx.TransportError, ValueError) as exc:
                raise TransientError(f"Revox GET {path}: {type(exc).__name__}: {exc}") from exc

        return self._retry.run(attempt, sleep=self._sleep)

    def _send_get(self, path: str, params: dict[str, int] | None) -> httpx.Response:
        jar = self._client.cookies
        if self._base is None or jar or not _PLAIN_PATH.fullmatch(path):
            return self._client.get(path, params=params)  # httpx's own way
        url = self._base + path
        if params:
            url += "?" + "&".join(f"{k}={int(v)}" for k, v in params.items())
        request = httpx.Request("GET", url, headers=self._headers, extensions=self._extensions)
        resp = self._client._transport_for_url(request.url).handle_request(request)
        resp.request = request
        try:
            resp.read()
        finally:
            resp.close()
        if "set-cookie" in resp.headers:  # kept, and sent back, as httpx would
            jar.extract_cookies(resp)
        return resp

    def post(self, path: str, body: dict[str, Any] | None, *, idempotent: bool) -> Any:
        """POST; only what never reached the server (refused connection, 429) is re-sent,
        unless the request is idempotent. A create that may have landed is never re-sent."""
        return self._retry.run(
            lambda: self._post_once(path, body, idempotent=idempotent),
            sleep=self._sleep,
        )

    def _post_once(self, path: str, body: dict[str, Any] | None, *, idempotent: bool) -> Any:
        self.requests += 1
        try:
            http = self._client
            if body is None:
                resp = http.post(path)
            else:  # the bytes httpx's json= sends (compact, UTF-8), encoded 15x faster
                resp = http.post(path, content=orjson.dumps(body), headers=_JSON)
        except httpx.ConnectError as exc:  # nothing was sent
            raise NotSentError(f"Revox POST {path}: cannot connect: {exc}") from exc
        except httpx.TransportError as exc:
            if idempotent:
                raise TransientError(f"Revox POST {path}: {type(exc).__name__}: {exc}") from exc
            raise AmbiguousError(
                f"Revox POST {path}: {type(exc).__name__} after sending; "
                "the request may have been applied"
            ) from exc
        if resp.status_code == 429:
            raise NotSentError(
                f"Revox POST {path}: HTTP 429 (rate limited; nothing was applied)",
                retry_after=retry_after(resp.headers),
                status=429,
            )
        if resp.status_code >= 500 and not idempotent:
            raise AmbiguousError(
                f"Revox POST {path}: HTTP {resp.status_code}; may have been applied"
            )
        _raise_for(resp, f"POST {path}", self._redactor)
        try:
            return json_of(resp)
        except ValueError as exc:
            if idempotent:
                raise TransientError(f"Revox POST {path}: answer is not JSON") from exc
            raise AmbiguousError(
                f"Revox POST {path}: answer is not JSON; may have applied"
            ) from exc
