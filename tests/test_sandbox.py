"""The Revox sandbox: contract validation, campaigns, call progression, faults."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from connector.sandbox import SCENARIOS, Fault, Sandbox, scenario_for
from connector.sandbox.routes import GENERIC_422

KEY = "test-key"
ASSISTANT = "182bd5e5-6e1a-4fe4-a799-aa6d9a6ab26e"


def _phone(i: int) -> str:
    return f"+1415555{i:04d}"


def _body(n: int = 2, **over: Any) -> dict[str, Any]:
    contacts = [
        {"to_phone_number": _phone(i), "prompt_variables": {"first_name": f"P{i}"}}
        for i in range(n)
    ]
    return {
        "assistant_id": ASSISTANT,
        "name": "batch-1",
        "contacts": contacts,
        "launch": True,
    } | over


def _window(**over: Any) -> dict[str, Any]:
    return {
        "calling_window_start_time": "09:00",
        "calling_window_end_time": "6pm",
        "retry_delay_seconds": 3600,
    } | over


def _retry(**over: Any) -> dict[str, Any]:
    return {
        "allowed_days": ["monday", "friday"],
        "call_twice_in_a_row": False,
        "calling_windows": [_window()],
        "max_retry_attempts": 2,
        "timezone": "Europe/Paris",
    } | over


def _client(sb: Sandbox, timeout: float = 5.0) -> httpx.Client:
    return httpx.Client(
        base_url=sb.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=timeout
    )


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(KEY, clock=lambda: 0.0) as sb:
        yield sb


@pytest.fixture
def client(sandbox: Sandbox) -> Iterator[httpx.Client]:
    with _client(sandbox) as c:
        yield c


def _create(client: httpx.Client, **over: Any) -> dict[str, Any]:
    answer = client.post("/campaigns", json=_body(**over))
    assert answer.status_code == 200, answer.text
    campaign: dict[str, Any] = answer.json()["campaign"]
    return campaign


def _calls(client: httpx.Client, cid: str) -> list[dict[str, Any]]:
    rows = client.get(f"/campaigns/{cid}/rows", params={"page_size": 200}).json()["rows"]
    return [row["call"] for row in rows]


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY}])
def test_missing_or_wrong_key_is_401(sandbox: Sandbox, headers: dict[str, str]) -> None:
    answer = httpx.get(f"{sandbox.url}/campaigns", headers=headers)
    assert answer.status_code == 401
    assert answer.json()["error"] == "unauthorized"


@pytest.mark.parametrize(
    ("over", "path"),
    [
        ({"assistant_id": "not-a-uuid"}, "assistant_id"),
        ({"name": ""}, "name"),
        ({"contacts": []}, "contacts"),
        ({"contacts": [{"to_phone_number": "0612345678", "prompt_variables": {}}]},
         "contacts.0.to_phone_number"),
        ({"contacts": [{"to_phone_number": "+33612345678", "prompt_variables": {"a": 1}}]},
         "contacts.0.prompt_variables"),
        ({"launch": "yes"}, "launch"),
        ({"from_phone_number": "12345"}, "from_phone_number"),
        ({"max_concurrent_calls": 0}, "max_concurrent_calls"),
        ({"scheduled_at": "tomorrow"}, "scheduled_at"),
        ({"campaign_name": "x"}, "campaign_name"),
        ({"type": "regular"}, "type"),
        ({"call_retry_config": _retry(allowed_days=["funday"])},
         "call_retry_config.allowed_days.0"),
        ({"call_retry_config": _retry(retry_delay_seconds=60)},
         "call_retry_config.retry_delay_seconds"),
        ({"call_retry_config": _retry(max_retry_attempts=0)},
         "call_retry_config.max_retry_attempts"),
        ({"call_retry_config": _retry(calling_windows=[_window(retry_delay_seconds=0)])},
         "call_retry_config.calling_windows.0.retry_delay_seconds"),
        ({"call_retry_config": _retry(calling_windows=[_window(calling_window_start_time="2:5")])},
         "call_retry_config.calling_windows.0.calling_window_start_time"),
        ({"call_retry_config": _retry(calling_windows=[_window(days=1)])},
         "call_retry_config.calling_windows.0.days"),
    ],
)  # fmt: skip
def test_each_validation_rule_is_422_naming_the_field(
    client: httpx.Client, sandbox: Sandbox, over: dict[str, Any], path: str
) -> None:
    answer = client.post("/campaigns", json=_body(**over))
    assert answer.status_code == 422
    body = answer.json()
    assert body["error"] == "validation_error"
    assert [issue["path"] for issue in body["issues"]] == [path]
    assert body["message"].startswith(f"{path}: ")
    assert sandbox.campaign_contacts() == {}


def test_missing_launch_and_non_object_body_are_422(client: httpx.Client) -> None:
    body = _body()
    del body["launch"]
    missing = client.post("/campaigns", json=body).json()
    assert missing["issues"] == [{"path": "launch", "message": "required"}]
    assert client.post("/campaigns", json=[body]).status_code == 422


def test_malformed_json_is_400(client: httpx.Client) -> None:
    answer = client.post("/campaigns", content=b'{"name": ', headers={"Content-Type": "x"})
    assert answer.status_code == 400
    assert answer.json()["error"] == "bad_request"


def test_create_get_and_list_newest_first(client: httpx.Client) -> None:
    first = _create(client, name="first", n=3)
    second = _create(client, name="second")
    assert first["status"] == "running" and first["is_cancelled"] is False
    assert first["row_stats"]["total"] == 3
    assert {"assistant", "call_retry_config", "organization_id"} <= first.keys()
    got = client.get(f"/campaigns/{first['id']}").json()["campaign"]
    assert got["name"] == "first" and got["id"] == first["id"]
    listed = client.get("/campaigns").json()["campaigns"]
    assert [c["name"] for c in listed] == ["second", "first"]
    assert second["id"] != first["id"]
    assert client.get("/campaigns/nope").json()["error"] == "not_found"
    assert client.post("/campaigns/nope/cancel").status_code == 404


def test_rows_paged_in_three_pages(client: httpx.Client) -> None:
    cid = _create(client, n=120)["id"]
    pages = [
        client.get(f"/campaigns/{cid}/rows", params={"page": p, "page_size": 50}).json()
        for p in (1, 2, 3)
    ]
    assert [len(p["rows"]) for p in pages] == [50, 50, 20]
    assert all(p["total"] == 120 and p["page_size"] == 50 for p in pages)
    rows = [row for p in pages for row in p["rows"]]
    assert [r["row_index"] for r in rows] == list(range(120))
    assert rows[119]["phone_number"] == _phone(119)
    assert rows[7]["input_data"] == {"first_name": "P7"}
    default = client.get(f"/campaigns/{cid}/rows").json()
    assert default["page"] == 1 and len(default["rows"]) == 50
    assert client.get(f"/campaigns/{cid}/rows", params={"page_size": 201}).status_code == 422


def test_rows_unpaged_ignores_paging_params() -> None:
    with Sandbox(KEY, clock=lambda: 0.0, paged_rows=False) as sb, _client(sb) as c:
        cid = _create(c, n=60)["id"]
        answer = c.get(f"/campaigns/{cid}/rows", params={"page": 2, "page_size": 10}).json()
    assert set(answer) == {"rows"}
    assert len(answer["rows"]) == 60


def test_calls_progress_to_a_final_status(client: httpx.Client, sandbox: Sandbox) -> None:
    cid = _create(client, n=3, max_concurrent_calls=2)["id"]
    assert [c["status"] for c in _calls(client, cid)] == [
        "calling",
        "calling",
        "queued_for_calling",
    ]
    sandbox.advance(31)
    assert [c["status"] for c in _calls(client, cid)][:2] == ["post_processing"] * 2
    assert not sandbox.all_final()
    sandbox.advance(10)  # 41 s: first slot final, the third contact is dialling
    calls = _calls(client, cid)
    assert calls[2]["status"] == "calling"
    assert all(c["status"] in ("completed", "errored") for c in calls[:2])
    sandbox.advance(40)
    assert sandbox.all_final()
    campaign = client.get(f"/campaigns/{cid}").json()["campaign"]
    assert campaign["status"] == "completed"
    stats = campaign["row_stats"]
    assert stats["completed"] + stats["failed"] == stats["total"] == 3


def test_scenario_for_is_deterministic_and_seeded() -> None:
    phones = [_phone(i) for i in range(400)]
    picks = [scenario_for(p) for p in phones]
    assert picks == [scenario_for(p, 0) for p in phones]
    assert set(picks) == {name for name, s in SCENARIOS.items() if s.weight}
    assert picks != [scenario_for(p, seed=1) for p in phones]


def test_scenario_outcomes_and_overrides() -> None:
    names = list(SCENARIOS)
    forced = {_phone(i): name for i, name in enumerate(names)}
    with Sandbox(KEY, clock=lambda: 0.0, scenarios=forced) as sb, _client(sb) as c:
        cid = _create(c, n=len(names), max_concurrent_calls=len(names))["id"]
        sb.advance(41)
        calls = dict(zip(names, _calls(c, cid), strict=True))
    interested = calls["interested"]
    assert interested["outcome"] == "interested"
    assert interested["last_call_attempt"]["structured_output"] == {"email": "p0@example.com"}
    assert interested["last_call_attempt"]["recording_url"]
    assert calls["voicemail"]["calls_count"] == 3
    assert calls["voicemail"]["last_call_attempt"]["result"] == "voicemail"
    assert calls["no_answer"]["last_call_attempt"]["dial_error"] == "no_answer"
    assert calls["errored"]["status"] == "errored"
    assert calls["errored"]["last_call_attempt"]["dial_error"] == "number_non_attributed"
    assert calls["do_not_contact"]["outcome"] == "do_not_contact"
    assert calls["hostile_summary"]["outcome_summary"].startswith("=HYPERLINK(")


def test_a_full_retry_config_is_accepted(client: httpx.Client) -> None:
    campaign = _create(client, call_retry_config=_retry(timezone=None))
    assert campaign["call_retry_config"]["calling_windows"][0]["retry_delay_seconds"] == 3600


def test_draft_has_no_calls_until_launch(client: httpx.Client, sandbox: Sandbox) -> None:
    campaign = _create(client, launch=False)
    assert campaign["status"] == "draft"
    assert _calls(client, campaign["id"]) == [None, None]
    sandbox.advance(100)
    assert _calls(client, campaign["id"]) == [None, None]
    assert sandbox.all_final()  # a draft is not launched, so nothing is waited for
    assert client.post(f"/campaigns/{campaign['id']}/launch").json() == {"success": True}
    assert [c["status"] for c in _calls(client, campaign["id"])] == ["calling", "calling"]
    assert not sandbox.all_final()


def test_cancel_ends_open_calls_cancelled(client: httpx.Client, sandbox: Sandbox) -> None:
    cid = _create(client, n=6, max_concurrent_calls=5)["id"]
    sandbox.advance(10)
    assert client.post(f"/campaigns/{cid}/cancel").json() == {"success": True}
    sandbox.advance(100)
    calls = _calls(client, cid)
    assert {c["status"] for c in calls} == {"cancelled"}
    assert calls[0]["last_call_attempt"]["end_reason"] == "client_initiated"
    assert calls[5]["calls_count"] == 0
    campaign = client.get(f"/campaigns/{cid}").json()["campaign"]
    assert campaign["is_cancelled"] is True
    assert campaign["row_stats"]["failed"] == 6
    assert client.post(f"/campaigns/{cid}/launch").status_code == 409


def test_speed_scales_the_clock() -> None:
    now = [0.0]
    with Sandbox(KEY, clock=lambda: now[0], speed=60) as sb, _client(sb) as c:
        cid = _create(c)["id"]
        now[0] = 1.0  # one real second is a simulated minute
        assert all(call["status"] != "calling" for call in _calls(c, cid))
        assert sb.all_final()


def test_status_fault_with_retry_after_is_not_applied(
    client: httpx.Client, sandbox: Sandbox
) -> None:
    sandbox.add_fault(Fault("POST", r"/campaigns", "status", status=429, retry_after="7"))
    answer = client.post("/campaigns", json=_body())
    assert answer.status_code == 429
    assert answer.headers["Retry-After"] == "7"
    assert sandbox.campaign_contacts() == {}
    assert client.get("/campaigns").status_code == 200  # GET does not match
    assert client.post("/campaigns", json=_body()).status_code == 200  # times=1 consumed
    assert [r[2] for r in sandbox.requests] == [429, 200, 200]


def test_drop_after_apply_creates_the_campaign(client: httpx.Client, sandbox: Sandbox) -> None:
    sandbox.add_fault(Fault("POST", r"/campaigns", "drop_after_apply"))
    with pytest.raises(httpx.RemoteProtocolError):
        client.post("/campaigns", json=_body(n=3))
    assert list(sandbox.campaign_contacts().values()) == [[_phone(0), _phone(1), _phone(2)]]
    assert sandbox.requests == [("POST", "/campaigns", 0)]
    assert len(client.get("/campaigns").json()["campaigns"]) == 1


def test_drop_before_apply_creates_nothing(client: httpx.Client, sandbox: Sandbox) -> None:
    sandbox.add_fault(Fault("*", r"/campaigns.*", "drop_before_apply", times=2))
    for _ in range(2):
        with pytest.raises(httpx.RemoteProtocolError):
            client.post("/campaigns", json=_body())
    assert sandbox.campaign_contacts() == {}
    assert client.get("/campaigns").json() == {"campaigns": []}


def test_hang_times_the_client_out(sandbox: Sandbox) -> None:
    sandbox.add_fault(Fault("POST", r"/campaigns", "hang", delay=3.0))
    started = time.monotonic()
    with _client(sandbox, timeout=0.2) as c, pytest.raises(httpx.ReadTimeout):
        c.post("/campaigns", json=_body())
    assert time.monotonic() - started < 2.0
    assert sandbox.campaign_contacts() == {}


def test_slow_answers_normally_after_the_delay(client: httpx.Client, sandbox: Sandbox) -> None:
    sandbox.add_fault(Fault("GET", r"/campaigns", "slow", delay=0.3))
    started = time.monotonic()
    assert client.get("/campaigns").json() == {"campaigns": []}
    assert time.monotonic() - started >= 0.3


def test_malformed_applies_and_truncates(client: httpx.Client, sandbox: Sandbox) -> None:
    sandbox.add_fault(Fault("POST", r"/campaigns", "malformed"))
    answer = client.post("/campaigns", json=_body())
    assert answer.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        answer.json()
    assert len(sandbox.campaign_contacts()) == 1


def test_sandbox_control_endpoints_need_no_auth(client: httpx.Client, sandbox: Sandbox) -> None:
    cid = _create(client)["id"]
    control = httpx.Client(base_url=sandbox.url)
    assert control.get("/_sandbox/contacts").json() == {"campaigns": {cid: [_phone(0), _phone(1)]}}
    assert control.get("/_sandbox/state").json() == {"all_final": False, "campaigns": 1, "calls": 2}
    fault = {"method": "GET", "path": r"/campaigns/[^/]+", "kind": "status", "status": 500}
    assert control.post("/_sandbox/faults", json=fault).json() == {"success": True}
    assert control.post("/_sandbox/faults", json={"kind": "boom"}).status_code == 422
    assert client.get(f"/campaigns/{cid}").status_code == 500
    sandbox.advance(41)
    assert control.get("/_sandbox/state").json()["all_final"] is True
    control.close()
    assert all(not path.startswith("/_sandbox") for _, path, _ in sandbox.requests)


# --- options and the current generation ---------------------------------------------------------

NO_FILTERS = {"assignee_ids": [], "directions": [], "outcomes": [], "results": [], "statuses": []}


def _launch_calls(ids: list[str] | None = None, mode: str = "all_except", **over: Any) -> Any:
    selection = {
        "filters": NO_FILTERS | over.pop("filters", {}),
        "rows": {"call_ids": ids or [], "mode": mode},
    }
    return {"mode": "ai_first", "selection": selection} | over


def _current(**options: Any) -> Sandbox:
    return Sandbox(KEY, clock=lambda: 0.0, generation="current", **options)


def _create_current(c: httpx.Client, n: int = 2, **over: Any) -> str:
    body = _body(n, **over)
    del body["launch"]
    answer = c.post("/campaigns", json=body)
    assert answer.status_code == 200, answer.text
    cid: str = answer.json()["campaign"]["id"]
    return cid


def test_refused_numbers_are_422_naming_the_contact_and_create_nothing() -> None:
    refused = {_phone(1), _phone(3)}
    with Sandbox(KEY, clock=lambda: 0.0, refused_numbers=refused) as sb, _client(sb) as c:
        answer = c.post("/campaigns", json=_body(4))
        assert c.post("/campaigns", json=_body(1)).status_code == 200
    assert answer.status_code == 422
    assert [i["path"] for i in answer.json()["issues"]] == [
        "contacts.1.to_phone_number",
        "contacts.3.to_phone_number",
    ]
    assert "contacts.1.to_phone_number: " in answer.json()["message"]
    assert list(sb.campaign_contacts().values()) == [[_phone(0)]]


def test_known_assistants_only() -> None:
    other = "00000000-0000-4000-8000-000000000000"
    with Sandbox(KEY, clock=lambda: 0.0, assistants={ASSISTANT}) as sb, _client(sb) as c:
        assert c.get(f"/assistants/{ASSISTANT}").json()["id"] == ASSISTANT
        assert c.get(f"/assistants/{other}").status_code == 404
        refused = c.post("/campaigns", json=_body(assistant_id=other))
        assert [i["path"] for i in refused.json()["issues"]] == ["assistant_id"]
        assert c.get("/auth-status").json() == {"authenticated": True}
    with Sandbox(KEY, clock=lambda: 0.0) as sb, _client(sb) as c:  # None: every UUID exists
        assert c.get(f"/assistants/{other}").status_code == 200
        assert c.get("/assistants/not-a-uuid").status_code == 404
        assert httpx.get(f"{sb.url}/auth-status").status_code == 401


def test_without_paths_a_422_says_only_a_generic_message() -> None:
    with Sandbox(
        KEY, clock=lambda: 0.0, name_paths_in_errors=False, refused_numbers={_phone(0)}
    ) as sb, _client(sb) as c:  # fmt: skip
        for body in (_body(), _body(type="regular")):
            answer = c.post("/campaigns", json=body)
            assert answer.status_code == 422
            assert answer.json() == {"error": "validation_error", "message": GENERIC_422}
        assert sb.campaign_contacts() == {}


def test_long_names_are_cut_silently() -> None:
    with Sandbox(KEY, clock=lambda: 0.0, max_name_length=10) as sb, _client(sb) as c:
        campaign = _create(c, name="rsync-abcdef-0123456789")
        assert campaign["name"] == "rsync-abcd"
        assert c.get("/campaigns").json()["campaigns"][0]["name"] == "rsync-abcd"


def test_campaign_list_paged_when_asked() -> None:
    with Sandbox(KEY, clock=lambda: 0.0, campaigns_page_size=2) as sb, _client(sb) as c:
        for i in range(5):
            _create(c, name=f"c{i}")
        pages = [c.get("/campaigns", params={"page": p}).json() for p in (1, 2, 3)]
        asked_more = c.get("/campaigns", params={"page_size": 50}).json()
    assert [[x["name"] for x in p["campaigns"]] for p in pages] == [
        ["c4", "c3"],
        ["c2", "c1"],
        ["c0"],
    ]
    assert all(p["total"] == 5 and p["page_size"] == 2 for p in pages)
    assert asked_more["page_size"] == 2 and len(asked_more["campaigns"]) == 2


def test_current_rows_whole_without_page_params_paged_with_them() -> None:
    with _current() as sb, _client(sb) as c:
        cid = _create_current(c, n=60)
        whole = c.get(f"/campaigns/{cid}/rows").json()
        paged = c.get(f"/campaigns/{cid}/rows", params={"page": 2, "page_size": 50}).json()
    assert set(whole) == {"rows"} and len(whole["rows"]) == 60
    assert paged["total"] == 60 and len(paged["rows"]) == 10


def test_current_generation_waits_for_launch_calls() -> None:
    with _current() as sb, _client(sb) as c:
        cid = _create_current(c, n=4)
        campaign = c.get(f"/campaigns/{cid}").json()["campaign"]
        assert campaign["status"] == "running"  # 0.5.0 has no "draft"
        assert campaign["row_stats"]["not_launched"] == campaign["row_stats"]["total"] == 4
        sb.advance(500)
        assert {call["status"] for call in _calls(c, cid)} == {"not_launched"}
        assert not sb.all_final()  # nothing launched: a client that never launches waits
        assert c.post(f"/campaigns/{cid}/launch", json={}).status_code == 404
        launched = c.post(f"/campaigns/{cid}/launch-calls", json=_launch_calls())
        assert launched.json() == {
            "launched": 4,
            "skipped": {"active": 0, "attempts_exhausted": 0, "cancelled": 0},
            "session": None,
        }
        again = c.post(f"/campaigns/{cid}/launch-calls", json=_launch_calls()).json()
        assert again["launched"] == 0 and again["skipped"]["active"] == 4
        stats = c.get(f"/campaigns/{cid}").json()["campaign"]["row_stats"]
        assert stats["not_launched"] == 0 and stats["calling"] == 4
        sb.advance(41)
        assert sb.all_final()
    assert sb.posted[-1] == ("POST", f"/campaigns/{cid}/launch-calls", _launch_calls())


def test_launch_calls_honours_the_selection() -> None:
    with _current() as sb, _client(sb) as c:
        cid = _create_current(c, n=4)
        ids = [call["id"] for call in _calls(c, cid)]
        only = c.post(f"/campaigns/{cid}/launch-calls", json=_launch_calls(ids[1:2], "only"))
        assert only.json()["launched"] == 1
        done = c.post(
            f"/campaigns/{cid}/launch-calls", json=_launch_calls(filters={"statuses": ["calling"]})
        )
        assert done.json()["launched"] == 0  # the not_launched ones are filtered out
        rest = c.post(f"/campaigns/{cid}/launch-calls", json=_launch_calls(ids[3:]))
        assert rest.json()["launched"] == 2
        statuses = [call["status"] for call in _calls(c, cid)]
        assert statuses == ["calling", "calling", "calling", "not_launched"]
        sb.advance(41)
        assert sb.all_final()  # a call nobody launched is not waited for once others were


def test_scheduled_launch_delays_the_dialling() -> None:
    with _current() as sb, _client(sb) as c:
        cid = _create_current(c, n=2)
        when = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        c.post(f"/campaigns/{cid}/launch-calls", json=_launch_calls(scheduled_at=when))
        sb.advance(3000)
        calls = _calls(c, cid)
        assert {call["status"] for call in calls} == {"scheduled"}
        assert calls[0]["scheduled_at"][:16] == when[:16]
        sb.advance(615)
        assert {call["status"] for call in _calls(c, cid)} == {"calling"}
    with Sandbox(KEY, clock=lambda: 0.0) as sb, _client(sb) as c:  # seed: scheduled_at at create
        cid = _create(c, scheduled_at=when)["id"]
        assert {call["status"] for call in _calls(c, cid)} == {"scheduled"}


def test_cancel_one_call_before_it_dials() -> None:
    with _current() as sb, _client(sb) as c:
        cid = _create_current(c, n=3, max_concurrent_calls=1)
        c.post(f"/campaigns/{cid}/launch-calls", json=_launch_calls())
        ids = [call["id"] for call in _calls(c, cid)]
        assert c.post(f"/call/{ids[2]}/cancel").json() == {"success": True}
        assert c.post("/call/nope/cancel").status_code == 404
        sb.advance(500)
        calls = _calls(c, cid)
        history = c.get("/calls/phone-history").json()["phone_history"]
    assert calls[2]["status"] == "cancelled" and calls[2]["call_attempts"] == []
    assert calls[2]["is_cancelled"] is True
    assert calls[0]["status"] in ("completed", "errored")
    assert set(history) == {_phone(0), _phone(1)}  # the cancelled one never dialled


def test_seed_draft_calls_cannot_be_cancelled_and_phone_history_is_404(
    client: httpx.Client,
) -> None:
    cid = _create(client, launch=False)["id"]
    call_id = "any"
    assert client.post(f"/call/{call_id}/cancel").status_code == 404
    assert client.get("/calls/phone-history").status_code == 404
    assert client.post(f"/campaigns/{cid}/launch-calls", json=_launch_calls()).status_code == 404


def test_phone_history_across_campaigns() -> None:
    scenarios = {_phone(0): "interested", _phone(1): "no_answer"}
    with _current(scenarios=scenarios) as sb, _client(sb) as c:
        for name in ("first", "second"):
            cid = _create_current(c, n=2, name=name)
            c.post(f"/campaigns/{cid}/launch-calls", json=_launch_calls())
            sb.advance(100)
        history = c.get("/calls/phone-history").json()["phone_history"]
    hot, missed = history[_phone(0)], history[_phone(1)]
    assert [x["name"] for x in hot["campaigns"]] == ["first", "second"]
    assert hot["count"] == 2 and hot["hot"] and hot["reached_human"]
    assert hot["last_outcome"] == "interested" and not hot["do_not_contact"]
    assert missed["count"] == 6 and not missed["reached_human"] and missed["last_outcome"] is None


def test_unknown_generation_is_refused() -> None:
    with pytest.raises(ValueError, match="generation"):
        Sandbox(KEY, generation="deferred")  # type: ignore[arg-type]


def test_cli_sandbox_speaks_the_generation_asked_for() -> None:
    import signal
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "connector.cli", "sandbox", "--port", "0", "--api-key", KEY]
    proc = subprocess.Popen([*cmd, "--generation", "current"], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        url = first.split()[3]
        assert "current generation" in first
        headers = {"Authorization": f"Bearer {KEY}"}
        assert httpx.get(f"{url}/calls/phone-history", headers=headers).status_code == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        proc.kill()
