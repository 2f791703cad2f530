"""The Revox client over loopback: error families, retries, paging, generations."""

from __future__ import annotations

import time

import httpx
import pytest

from connector.errors import (
    AmbiguousError,
    AuthError,
    NotFoundError,
    RejectedError,
    TransientError,
)
from connector.revox import Campaign, RevoxClient
from connector.sandbox import Fault, Sandbox
from tests.conftest import API_KEY, ASSISTANT


def body(n: int = 2, **kw: object) -> dict[str, object]:
    return {
        "assistant_id": ASSISTANT,
        "name": "test campaign",
        "launch": True,
        "contacts": [
            {"to_phone_number": f"+3361234{i:04d}", "prompt_variables": {"n": str(i)}}
            for i in range(n)
        ],
        **kw,
    }


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def client(sandbox: Sandbox, sleeps: list[float]) -> RevoxClient:
    return RevoxClient(API_KEY, sandbox.url, sleep=sleeps.append, timeout=1.0, rows_page_size=3)


def test_create_get_list_rows(client: RevoxClient, sandbox: Sandbox) -> None:
    camp = client.create_campaign(body(7))
    assert isinstance(camp, Campaign) and camp.name == "test campaign"
    assert camp.row_stats.total == 7
    assert client.get_campaign(camp.id).id == camp.id
    assert [c.id for c in client.list_campaigns().campaigns] == [camp.id]
    rows = client.campaign_rows(camp.id)
    assert [r.row_index for r in rows] == list(range(7))  # read across 3 pages of 3
    assert sum(1 for _, p, _ in sandbox.requests if "/rows?" in p) == 3


def test_bad_key_is_an_auth_error_without_the_key(sandbox: Sandbox) -> None:
    c = RevoxClient("wrong-secret-key", sandbox.url, sleep=lambda s: None)
    with pytest.raises(AuthError) as err:
        c.list_campaigns()
    assert "401" in str(err.value) and "wrong-secret-key" not in str(err.value)


def test_invalid_request_is_rejected_with_the_body(client: RevoxClient) -> None:
    with pytest.raises(RejectedError) as err:
        client.create_campaign(body(1, max_concurrent_calls=0))
    assert err.value.status == 422
    assert "max_concurrent_calls" in str(err.value)


def test_missing_campaign(client: RevoxClient) -> None:
    with pytest.raises(NotFoundError):
        client.get_campaign("00000000-0000-0000-0000-000000000000")


def test_get_retries_honour_retry_after(
    client: RevoxClient, sandbox: Sandbox, sleeps: list[float]
) -> None:
    sandbox.add_fault(Fault("GET", "/campaigns", "status", status=429, retry_after="7", times=1))
    sandbox.add_fault(Fault("GET", "/campaigns", "status", status=503, times=1))
    assert client.list_campaigns().campaigns == []
    assert sleeps[0] == 7.0
    assert len(sleeps) == 2 and sleeps[1] < 1.0  # backoff with jitter, first step 0.5 s max


def test_get_gives_up_after_bounded_retries(
    client: RevoxClient, sandbox: Sandbox, sleeps: list[float]
) -> None:
    sandbox.add_fault(Fault("GET", "/campaigns", "status", status=500, times=50))
    with pytest.raises(TransientError):
        client.list_campaigns()
    assert len(sleeps) == 4


def test_get_timeout_is_transient(
    client: RevoxClient, sandbox: Sandbox, sleeps: list[float]
) -> None:
    sandbox.add_fault(Fault("GET", "/campaigns", "hang", delay=1.5, times=1))
    assert client.list_campaigns().campaigns == []
    assert len(sleeps) == 1


@pytest.mark.parametrize("kind", ["drop_after_apply", "hang", "malformed"])
def test_post_campaign_is_never_retried(client: RevoxClient, sandbox: Sandbox, kind: str) -> None:
    sandbox.add_fault(Fault("POST", "/campaigns", kind, delay=1.5))
    with pytest.raises(AmbiguousError):
        client.create_campaign(body(1))
    deadline = time.monotonic() + 3
    while not sandbox.requests and time.monotonic() < deadline:
        time.sleep(0.05)  # a hung request is logged when the sandbox lets it go
    assert sum(1 for m, p, _ in sandbox.requests if m == "POST") == 1


def test_post_5xx_is_ambiguous_and_connect_error_is_transient(
    client: RevoxClient, sandbox: Sandbox
) -> None:
    sandbox.add_fault(Fault("POST", "/campaigns", "status", status=502))
    with pytest.raises(AmbiguousError):
        client.create_campaign(body(1))
    closed = RevoxClient(API_KEY, "http://127.0.0.1:9", sleep=lambda s: None, timeout=0.5)
    with pytest.raises(TransientError):
        closed.create_campaign(body(1))


def test_current_generation_needs_launch_calls() -> None:
    with Sandbox(API_KEY, generation="current") as sb:
        c = RevoxClient(API_KEY, sb.url)
        body3 = {k: v for k, v in body(3).items() if k != "launch"}
        camp = c.create_campaign(body3)
        assert camp.generation_hint() == "current"
        assert camp.row_stats.not_launched == 3
        assert c.launch_calls(camp.id, None) == 3
        assert c.get_campaign(camp.id).row_stats.not_launched == 0
        assert c.launch_calls(camp.id, None) == 0  # safe to repeat: nothing more is launched


def test_seed_generation_create_answer_gives_no_hint() -> None:
    with Sandbox(API_KEY, generation="seed") as sb:
        c = RevoxClient(API_KEY, sb.url)
        assert c.create_campaign(body(2)).generation_hint() is None
        with pytest.raises(NotFoundError):
            c.phone_history()
        assert c.auth_status() is True


def test_unknown_fields_are_ignored() -> None:
    camp = Campaign.model_validate(
        {
            "id": "x",
            "name": "n",
            "status": "running",
            "row_stats": {"total": 1, "future": 3},
            "created_at": {},
            "assistant": {"id": "a"},
            "brand_new_field": [1, 2],
        }
    )
    assert camp.created_at is None and camp.row_stats.total == 1


def test_transport_errors_are_mapped() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadError("reset by peer", request=request)

    c = RevoxClient(
        API_KEY,
        "http://revox.test",
        transport=httpx.MockTransport(handler),
        sleep=lambda s: None,
        max_retries=1,
    )
    with pytest.raises(TransientError):
        c.list_campaigns()
    with pytest.raises(AmbiguousError):
        c.create_campaign(body(1))
