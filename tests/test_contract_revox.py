"""The sandbox held to the truth: the official ``revox`` 0.5.0 client and the seed page.

Current generation: the official client itself drives a sandbox through every
endpoint the connector uses (with ``_strict_response_validation``), and every raw
answer is validated by the client's own response models in pydantic strict mode
(stainless models accept ``strict=True``; ints pass for ``float`` fields). Seed
generation: requests and answers against ``tests/contracts/seed.py``, written from
the seed page, whose own JSON example must pass it too. Loopback only.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pydantic
import pytest
import revox
from revox import types as rt

from connector.sandbox import SCENARIOS, Sandbox
from tests.contracts import seed as sc

KEY = "contract-key"
ASSISTANT = "182bd5e5-6e1a-4fe4-a799-aa6d9a6ab26e"
EXAMPLE = Path(__file__).parent / "contracts" / "seed_create_response_example.json"
NO_FILTERS = {"assignee_ids": [], "directions": [], "outcomes": [], "results": [], "statuses": []}
RETRY = {
    "allowed_days": ["monday", "tuesday", "wednesday"],
    "call_twice_in_a_row": True,
    "calling_windows": [
        {
            "calling_window_start_time": "09:00",
            "calling_window_end_time": "18:00",
            "retry_delay_seconds": 0,  # the current generation allows 0
        },
        {
            "calling_window_start_time": "2pm",
            "calling_window_end_time": "6pm",
            "retry_delay_seconds": 60,
        },
    ],
    "max_retry_attempts": 2,
    "timezone": "Europe/Paris",
}


def _phone(i: int) -> str:
    return f"+3361234{i:04d}"


def _contacts(n: int) -> list[dict[str, Any]]:
    return [
        {
            "to_phone_number": _phone(i),
            "prompt_variables": {"first_name": f"Ana{i}", "company": "X"},
        }
        for i in range(n)
    ]


def _selection(call_ids: list[str] | None = None, mode: str = "all_except") -> dict[str, Any]:
    return {"filters": dict(NO_FILTERS), "rows": {"call_ids": call_ids or [], "mode": mode}}


def _http(sb: Sandbox) -> httpx.Client:
    return httpx.Client(
        base_url=sb.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=5, trust_env=False
    )


def _official(sb: Sandbox) -> revox.Revox:
    return revox.Revox(
        api_key=KEY,
        base_url=sb.url,
        max_retries=0,
        timeout=5,
        http_client=revox.DefaultHttpxClient(trust_env=False),
        _strict_response_validation=True,
    )


def _ok(answer: httpx.Response) -> Any:
    assert answer.status_code == 200, answer.text
    return answer.json()


@pytest.fixture
def current() -> Iterator[Sandbox]:
    with Sandbox(KEY, generation="current", clock=lambda: 0.0) as sb:
        yield sb


# --- (a) the official client against a current-generation sandbox ------------------------------


def test_official_client_drives_every_endpoint(current: Sandbox) -> None:
    client = _official(current)
    created = client.campaigns.create(
        assistant_id=ASSISTANT,
        name="contract run",
        contacts=_contacts(3),
        call_retry_config=RETRY,
        from_phone_number="+14155550199",
        max_concurrent_calls=2,
    )
    cid = created.campaign.id
    stats = created.campaign.row_stats
    assert stats is not None and stats.not_launched == stats.total == 3
    rows = client.campaigns.get_rows(cid).rows
    assert [r.row_index for r in rows] == [0, 1, 2]
    assert all(r.call is not None and r.call.status == "not_launched" for r in rows)
    held = rows[2].call
    assert held is not None
    when = datetime.now(UTC) + timedelta(seconds=60)
    launched = client.campaigns.launch(
        cid,
        mode="ai_first",
        selection=_selection([held.id]),
        scheduled_at=when,
    )
    assert launched.launched == 2 and launched.session is None
    again = client.campaigns.launch(cid, mode="ai_first", selection=_selection())
    assert again.launched == 1 and again.skipped.active == 2  # the held call, now unscheduled
    current.advance(20)
    statuses = [r.call.status for r in client.campaigns.get_rows(cid).rows if r.call]
    assert statuses[:2] == ["scheduled", "scheduled"] and statuses[2] == "calling"
    assert client.call.cancel(held.id).success is True
    assert client.call.phone_history().phone_history[_phone(2)].count == 1
    current.advance(200)
    final = client.campaigns.get_rows(cid).rows
    assert [r.call.status for r in final if r.call][2] == "cancelled"
    assert all(r.call and r.call.status in ("completed", "errored", "cancelled") for r in final)
    history = client.call.phone_history().phone_history
    assert set(history) == {_phone(0), _phone(1), _phone(2)}
    assert history[_phone(0)].campaigns[0].name == "contract run"
    got = client.campaigns.retrieve(cid).campaign
    assert got.status == "completed" and got.call_retry_config is not None
    assert got.call_retry_config.calling_windows[0].retry_delay_seconds == 0
    assert [c.id for c in client.campaigns.list().campaigns] == [cid]
    assert client.auth_status.retrieve().authenticated is True
    assert client.assistants.retrieve(ASSISTANT).id == ASSISTANT
    assert client.campaigns.cancel(cid).success is True
    assert client.campaigns.retrieve(cid).campaign.is_cancelled is True


def test_official_client_sees_errors_as_its_exceptions(current: Sandbox) -> None:
    client = _official(current)
    with pytest.raises(revox.NotFoundError):
        client.campaigns.retrieve("nope")
    with pytest.raises(revox.NotFoundError):
        client.call.cancel("nope")
    with pytest.raises(revox.UnprocessableEntityError) as refused:
        client.campaigns.create(assistant_id="x", name="", contacts=[])
    assert {i["path"] for i in refused.value.body["issues"]} == {"assistant_id", "name", "contacts"}
    bad = revox.Revox(api_key="wrong", base_url=current.url, max_retries=0)
    with pytest.raises(revox.AuthenticationError):
        bad.auth_status.retrieve()


# --- (b) every raw answer under the client's own models, strict --------------------------------


def _strict(model: type[pydantic.BaseModel], data: object) -> None:
    model.model_validate(data, strict=True)


def test_strict_validation_bites() -> None:
    with pytest.raises(pydantic.ValidationError):
        _strict(rt.AuthStatusRetrieveResponse, {"authenticated": "yes"})
    with pytest.raises(pydantic.ValidationError):
        _strict(rt.CampaignRetrieveResponse, {"campaign": {"id": "x"}})


@pytest.mark.parametrize("advance", [0.0, 5.0, 35.0, 45.0, 400.0])
def test_every_answer_validates_strictly(advance: float) -> None:
    names = list(SCENARIOS)
    forced = {_phone(i): name for i, name in enumerate(names)}
    with (
        Sandbox(KEY, generation="current", clock=lambda: 0.0, scenarios=forced) as sb,
        _http(sb) as h,
    ):
        body = {"assistant_id": ASSISTANT, "name": "all", "contacts": _contacts(len(names)),
                "call_retry_config": RETRY, "max_concurrent_calls": 4}  # fmt: skip
        created = _ok(h.post("/campaigns", json=body))
        _strict(rt.CampaignCreateResponse, created)
        cid = created["campaign"]["id"]
        idle = _ok(h.post("/campaigns", json=body | {"name": "never launched"}))["campaign"]["id"]
        launch = {"mode": "ai_first", "selection": _selection()}
        _strict(
            rt.CampaignLaunchResponse, _ok(h.post(f"/campaigns/{cid}/launch-calls", json=launch))
        )
        sb.advance(advance)
        rows = _ok(h.get(f"/campaigns/{cid}/rows"))
        _strict(rt.CampaignGetRowsResponse, rows)
        _strict(rt.CampaignGetRowsResponse, _ok(h.get(f"/campaigns/{idle}/rows")))
        _strict(rt.CampaignRetrieveResponse, _ok(h.get(f"/campaigns/{cid}")))
        _strict(rt.CampaignListResponse, _ok(h.get("/campaigns")))
        _strict(rt.CallPhoneHistoryResponse, _ok(h.get("/calls/phone-history")))
        _strict(rt.AuthStatusRetrieveResponse, _ok(h.get("/auth-status")))
        _strict(rt.AssistantRetrieveResponse, _ok(h.get(f"/assistants/{ASSISTANT}")))
        call_id = rows["rows"][-1]["call"]["id"]
        _strict(rt.CallCancelResponse, _ok(h.post(f"/call/{call_id}/cancel")))
        _strict(rt.CampaignCancelResponse, _ok(h.post(f"/campaigns/{cid}/cancel")))
        sb.advance(100)
        _strict(rt.CampaignGetRowsResponse, _ok(h.get(f"/campaigns/{cid}/rows")))
        _strict(rt.CallPhoneHistoryResponse, _ok(h.get("/calls/phone-history")))


def test_current_outcomes_and_opt_out_in_phone_history() -> None:
    forced = {_phone(0): "do_not_contact", _phone(1): "ai_averse", _phone(2): "interested"}
    with (
        Sandbox(KEY, generation="current", clock=lambda: 0.0, scenarios=forced) as sb,
        _http(sb) as h,
    ):
        body = {"assistant_id": ASSISTANT, "name": "optout", "contacts": _contacts(3)}
        cid = _ok(h.post("/campaigns", json=body))["campaign"]["id"]
        _ok(
            h.post(
                f"/campaigns/{cid}/launch-calls",
                json={"mode": "ai_first", "selection": _selection()},
            )
        )
        sb.advance(20)
        assert (
            _ok(h.get("/calls/phone-history"))["phone_history"][_phone(0)]["do_not_contact"]
            is False
        )
        sb.advance(30)
        rows = _ok(h.get(f"/campaigns/{cid}/rows"))["rows"]
        history = _ok(h.get("/calls/phone-history"))["phone_history"]
    assert [r["call"]["outcome"] for r in rows] == [
        "not_interested",
        "not_interested",
        "interested",
    ]
    assert [history[_phone(i)]["do_not_contact"] for i in range(3)] == [True, True, False]
    assert history[_phone(2)]["hot"] is True and history[_phone(2)]["reached_human"] is True


# --- (c) what each generation refuses ---------------------------------------------------------


def _issues(answer: httpx.Response) -> list[str]:
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert body["error"] == "validation_error"
    for issue in body["issues"]:
        assert issue["path"] in body["message"]
    return [i["path"] for i in body["issues"]]


@pytest.mark.parametrize(
    ("generation", "extra", "paths"),
    [
        ("current", {"launch": True}, ["launch"]),
        ("current", {"scheduled_at": "2030-01-01T09:00:00Z"}, ["scheduled_at"]),
        ("current", {"call_retry_config": RETRY | {"retry_delay_seconds": 60}},
         ["call_retry_config.retry_delay_seconds"]),
        ("seed", {"launch": True, "call_retry_config": RETRY | {"retry_delay_seconds": 60}},
         ["call_retry_config.calling_windows.0.retry_delay_seconds",
          "call_retry_config.retry_delay_seconds"]),
        ("seed", {"launch": True, "type": "regular"}, ["type"]),
        ("seed", {}, ["launch"]),
    ],
)  # fmt: skip
def test_each_generation_refuses_the_other_ones_body(
    generation: str, extra: dict[str, Any], paths: list[str]
) -> None:
    body = {"assistant_id": ASSISTANT, "name": "n", "contacts": _contacts(1)} | extra
    with Sandbox(KEY, generation=generation, clock=lambda: 0.0) as sb, _http(sb) as h:
        assert _issues(h.post("/campaigns", json=body)) == paths
        assert sb.campaign_contacts() == {}


@pytest.mark.parametrize(
    ("body", "paths"),
    [
        ({"mode": "ai_first", "selection": {"type": "all"}},
         ["selection.filters", "selection.rows", "selection.type"]),
        ({"mode": "ai_first"}, ["selection"]),
        ({"mode": "manual", "selection": _selection()}, ["mode"]),
        ({"mode": "ai_first", "selection": _selection() | {"filters": {"statuses": ["done"]}}},
         ["selection.filters.assignee_ids", "selection.filters.directions",
          "selection.filters.outcomes", "selection.filters.results",
          "selection.filters.statuses.0"]),
        ({"mode": "ai_first", "selection": _selection(mode="some")}, ["selection.rows.mode"]),
        ({"mode": "ai_first", "selection": _selection(), "scheduled_at": "soon"}, ["scheduled_at"]),
        ({"mode": "speed_dial", "selection": _selection(), "scheduled_at": "2030-01-01T09:00:00Z"},
         ["scheduled_at"]),
    ],
)  # fmt: skip
def test_launch_calls_needs_the_full_selection(
    current: Sandbox, body: dict[str, Any], paths: list[str]
) -> None:
    with _http(current) as h:
        created = {"assistant_id": ASSISTANT, "name": "n", "contacts": _contacts(2)}
        cid = _ok(h.post("/campaigns", json=created))["campaign"]["id"]
        assert _issues(h.post(f"/campaigns/{cid}/launch-calls", json=body)) == paths
        stats = _ok(h.get(f"/campaigns/{cid}"))["campaign"]["row_stats"]
    assert stats["not_launched"] == 2


def test_routes_of_the_other_generation_are_404() -> None:
    for generation, gone in (("seed", "launch-calls"), ("current", "launch")):
        with Sandbox(KEY, generation=generation, clock=lambda: 0.0) as sb, _http(sb) as h:
            body = {
                "assistant_id": ASSISTANT,
                "name": "n",
                "contacts": _contacts(1),
                "launch": False,
            }
            if generation == "current":
                del body["launch"]
            cid = _ok(h.post("/campaigns", json=body))["campaign"]["id"]
            assert h.post(f"/campaigns/{cid}/{gone}", json={}).status_code == 404
            phone_history = h.get("/calls/phone-history").status_code
            assert phone_history == (404 if generation == "seed" else 200)


# --- (d) the seed generation against the seed page --------------------------------------------


def test_the_seed_schema_accepts_the_seed_pages_own_example() -> None:
    example = json.loads(EXAMPLE.read_text())
    sc.SeedCreateResponse.model_validate(example)
    with pytest.raises(pydantic.ValidationError):
        sc.SeedCreateResponse.model_validate({"campaign": example["campaign"] | {"type": "x"}})


def test_seed_body_per_the_page_is_accepted_and_answers_match_the_page() -> None:
    body = {
        "assistant_id": ASSISTANT,
        "name": "seed run",
        "contacts": _contacts(3),
        "launch": True,
        "call_retry_config": RETRY | {"calling_windows": [RETRY["calling_windows"][1]]},
        "from_phone_number": "+14155550199",
        "max_concurrent_calls": 2,
        "scheduled_at": None,
    }
    sc.SeedCreateParams.model_validate(body)  # the body itself is what the page declares
    picks = ["do_not_contact", "errored", "voicemail", "ai_averse"]
    forced = {_phone(i): name for i, name in enumerate(picks)}
    with Sandbox(KEY, clock=lambda: 0.0, scenarios=forced) as sb, _http(sb) as h:
        sc.SeedCreateResponse.model_validate(_ok(h.post("/campaigns", json=body)))
        draft = body | {"launch": False, "contacts": _contacts(4), "scheduled_at": None}
        did = _ok(h.post("/campaigns", json=draft))["campaign"]["id"]
        sc.SeedCreateResponse.model_validate(_ok(h.get(f"/campaigns/{did}")))
        sc.SeedRowsResponse.model_validate(_ok(h.get(f"/campaigns/{did}/rows")))
        sc.SeedSuccess.model_validate(_ok(h.post(f"/campaigns/{did}/launch")))
        for advance in (0.0, 20.0, 60.0, 200.0):
            sb.advance(advance)
            listed = sc.SeedListResponse.model_validate(_ok(h.get("/campaigns")))
            for campaign in listed.campaigns:
                rows = _ok(h.get(f"/campaigns/{campaign.id}/rows", params={"page_size": 200}))
                sc.SeedRowsResponse.model_validate(rows)
        assert listed.campaigns[0].status == "completed"
        rows = _ok(h.get(f"/campaigns/{did}/rows"))
        outcomes = [row["call"]["outcome"] for row in rows["rows"]]
        assert outcomes == ["do_not_contact", None, None, "ai_averse"]
        sc.Assistant.model_validate(_ok(h.get(f"/assistants/{ASSISTANT}")))
        assert _ok(h.get("/auth-status")) == {"authenticated": True}
        sc.SeedSuccess.model_validate(_ok(h.post(f"/campaigns/{did}/cancel")))


def test_seed_requires_a_positive_window_delay() -> None:
    body = {"assistant_id": ASSISTANT, "name": "n", "contacts": _contacts(1), "launch": True,
            "call_retry_config": RETRY}  # fmt: skip
    with pytest.raises(pydantic.ValidationError):
        sc.SeedCreateParams.model_validate(body)  # the page says exclusiveMinimum 0
    with Sandbox(KEY, clock=lambda: 0.0) as sb, _http(sb) as h:
        assert _issues(h.post("/campaigns", json=body)) == [
            "call_retry_config.calling_windows.0.retry_delay_seconds"
        ]
