"""The Revox client's GET shortcut sends exactly the request httpx would have sent."""

from __future__ import annotations

import httpx
import pytest

from connector.revox_http import RevoxHttp

KEY = "rvx-test-key-123456"


def _sent(base: str, path: str, params: dict[str, int] | None, *, fast: bool) -> httpx.Request:
    """The one request a GET sends, through the shortcut or through httpx.Client.get."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"ok": True})

    http = RevoxHttp(
        KEY, base, timeout=3.0, max_retries=0, max_backoff=1.0,
        transport=httpx.MockTransport(handler),
    )  # fmt: skip
    if fast:
        assert http.get(path, params) == {"ok": True}
    else:
        http._client.get(path, params=params)
    assert len(seen) == 1 and http.requests == (1 if fast else 0)
    return seen[0]


@pytest.mark.parametrize(
    "base",
    [
        "http://revox.test",
        "http://revox.test/",
        "https://www.getrevox.com/api",
        "https://www.getrevox.com/api/",
        "http://127.0.0.1:8123/v1/api",
    ],
)
@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/campaigns", {"page": 1, "page_size": 200}),
        ("/campaigns/8f14e45f-ceea-467a-9575-6f4b5d6a4c1b", None),
        ("/campaigns/8f14e45f-ceea-467a-9575-6f4b5d6a4c1b/rows", {"page": 3, "page_size": 50}),
        ("/auth-status", None),
    ],
)
def test_a_plain_get_is_the_request_httpx_builds(
    base: str, path: str, params: dict[str, int] | None
) -> None:
    fast, usual = _sent(base, path, params, fast=True), _sent(base, path, params, fast=False)
    assert str(fast.url) == str(usual.url)
    assert fast.headers.raw == usual.headers.raw  # same headers, same order, Host first
    assert fast.extensions == usual.extensions  # the client's timeouts
    assert fast.headers["authorization"] == f"Bearer {KEY}"


@pytest.mark.parametrize("path", ["/campaigns/a b", "/campaigns/x?y=1", "/campaigns/%41", "x"])
def test_a_path_httpx_would_rewrite_goes_through_httpx(path: str) -> None:
    fast = _sent("http://revox.test/api", path, {"page": 1}, fast=True)
    usual = _sent("http://revox.test/api", path, {"page": 1}, fast=False)
    assert str(fast.url) == str(usual.url)


def test_cookies_are_kept_and_sent_back_as_httpx_does() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={}, headers={"set-cookie": "lb=node-2; Path=/"})

    http = RevoxHttp(
        KEY, "http://revox.test", timeout=3.0, max_retries=0, max_backoff=1.0,
        transport=httpx.MockTransport(handler),
    )  # fmt: skip
    http.get("/campaigns/c1")
    http.get("/campaigns/c1")
    assert "cookie" not in seen[0].headers
    assert seen[1].headers["cookie"] == "lb=node-2"
