"""Hostile Revox answers (issue 6): to the client, through the engine (a proxy in front of the
sandbox) and through the CLI (a hostile server): each case asserts the exact error the user
sees, one line, never a traceback, and that no result and no submission is lost or repeated.

Known bugs are `xfail(strict=True)` with the cause in the reason.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from connector.errors import (
    AmbiguousError,
    AuthError,
    ConnectorError,
    NotFoundError,
    RejectedError,
    TransientError,
)
from connector.revox import BadAnswerError, RevoxClient
from connector.sandbox import Fault, Sandbox
from tests.conftest import (
    API_KEY,
    FINAL_STATES,
    IN_FLIGHT_STATES,
    Team,
    csv_bytes,
    e164,
    fr,
    mapping_yaml,
    run_cli,
)

# =============================================================================================
# 3. Hostile Revox answers
# =============================================================================================


def mock_client(handler: Callable[[httpx.Request], httpx.Response]) -> RevoxClient:
    return RevoxClient(
        "rvx-test-key", "http://revox.test", transport=httpx.MockTransport(handler),
        sleep=lambda s: None, max_retries=1,
    )  # fmt: skip


def _call(client: RevoxClient, op: str) -> object:
    if op == "list":
        return client.list_campaigns()
    if op == "get":
        return client.get_campaign("c1")
    if op == "rows":
        return client.campaign_rows("c1")
    return client.create_campaign({"name": "x"})


def _html(status: int, text: str, **headers: str) -> Callable[[httpx.Request], httpx.Response]:
    return lambda r: httpx.Response(
        status, text=text, headers={"content-type": "text/html", **headers}
    )


def _json(status: int, body: object) -> Callable[[httpx.Request], httpx.Response]:
    return lambda r: httpx.Response(status, json=body)


# (id, handler, operation, exception type or None, exact message or a check of the result)
CLIENT_CASES: list[
    tuple[str, Callable[[httpx.Request], httpx.Response], str, type[Exception] | None, str]
] = [
    (
        "html_502_page_on_get",
        _html(502, "<html>\n<body>Bad gateway</body>\n</html>", **{"retry-after": "0"}),
        "get",
        TransientError,
        "Revox GET /campaigns/c1: HTTP 502: <html> <body>Bad gateway</body> </html>",
    ),
    (
        "html_200_page_on_get",
        _html(200, "<html>maintenance</html>"),
        "get",
        TransientError,
        "Revox GET /campaigns/c1: JSONDecodeError: Expecting value: line 1 column 1 (char 0)",
    ),
    (
        "html_200_page_on_post",
        _html(200, "<html>ok</html>"),
        "post",
        AmbiguousError,
        "Revox POST /campaigns: answer is not JSON; may have applied",
    ),
    (
        "html_503_page_on_post",
        _html(503, "<html>down</html>"),
        "post",
        AmbiguousError,
        "Revox POST /campaigns: HTTP 503; may have been applied",
    ),
    (
        "html_422_page_on_post",
        _html(422, "<html>bad</html>"),
        "post",
        RejectedError,
        "Revox POST /campaigns: HTTP 422: <html>bad</html>",
    ),
    (
        "html_401_page",
        _html(401, "<html>Unauthorized</html>"),
        "list",
        AuthError,
        "Revox GET /campaigns: HTTP 401: <html>Unauthorized</html> (check REVOX_API_KEY)",
    ),
    (
        "json_403",
        _json(403, {"error": "forbidden"}),
        "get",
        AuthError,
        'Revox GET /campaigns/c1: HTTP 403: {"error":"forbidden"} (check REVOX_API_KEY)',
    ),
    (
        "json_404_on_get",
        _json(404, {"error": "not_found"}),
        "get",
        NotFoundError,
        'Revox GET /campaigns/c1: HTTP 404: {"error":"not_found"}',
    ),
    (
        "json_409_on_post",
        _json(409, {"error": "conflict", "message": "duplicate name"}),
        "post",
        RejectedError,
        'Revox POST /campaigns: HTTP 409: {"error":"conflict","message":"duplicate name"}',
    ),
    (
        "post_answer_is_a_list",
        _json(200, [{"id": "c1"}]),
        "post",
        AmbiguousError,
        "Revox POST /campaigns: answer is not an object; the campaign may have been created",
    ),
    (
        "unknown_fields_everywhere",
        _json(
            200,
            {
                "campaign": {
                    "id": "c1",
                    "zzz": [1, {"a": None}],
                    "row_stats": {"total": 2, "new_stat": 9},
                },
                "extra": True,
            },
        ),
        "get",
        None,
        "c1",
    ),
    (
        "only_the_id",
        _json(200, {"campaign": {"id": "c1"}}),
        "get",
        None,
        "c1",
    ),
    (
        "timestamps_as_objects",
        _json(200, {"campaign": {"id": "c1", "created_at": {}, "updated_at": 12}}),
        "get",
        None,
        "c1",
    ),
    (
        "rows_total_as_text",
        _json(200, {"rows": [{"row_index": 0, "call": None, "surprise": 1}], "total": "5"}),
        "rows",
        None,
        "1 row",
    ),
    (
        "rows_answer_is_a_bare_list",
        _json(200, [{"row_index": 0}]),
        "rows",
        BadAnswerError,
        "Revox GET /campaigns/{id}/rows: unexpected answer: no list 'rows'",
    ),
]


@pytest.mark.parametrize(
    ("handler", "op", "exc", "expected"),
    [pytest.param(*c[1:], id=c[0]) for c in CLIENT_CASES],
)
def test_hostile_answer_to_the_client(
    handler: Callable[[httpx.Request], httpx.Response],
    op: str,
    exc: type[Exception] | None,
    expected: str,
) -> None:
    client = mock_client(handler)
    if exc is None:
        out = _call(client, op)
        if isinstance(out, list):
            assert f"{len(out)} row" == expected
        else:
            assert getattr(out, "id", None) == expected
        return
    with pytest.raises(exc) as err:
        _call(client, op)
    assert type(err.value) is exc
    assert str(err.value) == expected
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("handler", "op"),
    [
        pytest.param(_json(200, {"campaigns": None}), "list", id="list_campaigns_null"),
        pytest.param(_json(200, ["c1"]), "get", id="get_campaign_answers_a_list"),
        pytest.param(_json(200, "ok"), "get", id="get_campaign_answers_a_string"),
        pytest.param(_json(200, {"rows": None}), "rows", id="rows_null"),
        pytest.param(_json(200, {"campaign": {"id": 7}}), "get", id="id_is_a_number"),
        pytest.param(
            _json(200, {"rows": [{"row_index": "first"}]}), "rows", id="row_index_is_a_word"
        ),
        pytest.param(
            _json(200, {"campaign": {"id": "c1", "is_cancelled": None}}), "get", id="bool_null"
        ),
        pytest.param(_json(200, {"campaign": {"name": "x"}}), "post", id="created_without_id"),
    ],
)
def test_answer_of_the_wrong_shape_is_a_one_line_connector_error(
    handler: Callable[[httpx.Request], httpx.Response], op: str
) -> None:
    with pytest.raises(ConnectorError) as err:
        _call(mock_client(handler), op)
    assert "\n" not in str(err.value)


def test_error_body_echoing_the_key_does_not_leak_it() -> None:
    def echo(r: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"message": f"bad token {r.headers['authorization']}"})

    with pytest.raises(AuthError) as err:
        mock_client(echo).list_campaigns()
    assert "rvx-test-key" not in str(err.value)


# --- the same answers through the engine: a proxy in front of the sandbox ------------------


Rewrite = Callable[[httpx.Request, httpx.Response], httpx.Response | None]


class Proxy(httpx.BaseTransport):
    """Forwards to the sandbox and lets a test rewrite chosen answers."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.rewrites: list[Rewrite] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        resp = self.inner.handle_request(request)
        resp.read()
        for rewrite in self.rewrites:
            out = rewrite(request, resp)
            if out is not None:
                return out
        return httpx.Response(resp.status_code, headers=resp.headers, content=resp.content)


@pytest.fixture
def proxied(tmp_path: Path, sandbox: Sandbox) -> Iterator[tuple[Callable[..., Team], Proxy]]:
    proxy = Proxy()
    made: list[Team] = []

    def make(csv_data: bytes, **kw: Any) -> Team:
        client = RevoxClient(
            API_KEY, sandbox.url, transport=proxy, sleep=lambda s: None, max_retries=1,
            rows_page_size=50,
        )  # fmt: skip
        t = Team.make(tmp_path, sandbox, csv_data, revox=client, **kw)
        made.append(t)
        return t

    yield make, proxy
    for t in made:
        t.engine.state.close()


def _extra_fields(req: httpx.Request, resp: httpx.Response) -> httpx.Response | None:
    if resp.status_code != 200:
        return None
    body = resp.json()

    def salt(obj: Any) -> Any:
        if isinstance(obj, dict):
            return {**{k: salt(v) for k, v in obj.items()}, "x_new_field": {"deep": [1, None]}}
        if isinstance(obj, list):
            return [salt(v) for v in obj]
        return obj

    return httpx.Response(200, json=salt(body))


def test_unknown_fields_in_every_answer_are_ignored(
    proxied: tuple[Callable[..., Team], Proxy],
) -> None:
    make, proxy = proxied
    proxy.rewrites.append(_extra_fields)
    t = make(csv_bytes([[f"P{i}", fr(i)] for i in range(3)]))
    t.engine.tick()
    t.until_final()
    assert all(r["Revox status"] in FINAL_STATES and r["Attempts"] for r in t.rows)


def test_missing_optional_fields_in_rows(proxied: tuple[Callable[..., Team], Proxy]) -> None:
    """Rows without phone_number and calls without outcome, attempts or summary."""
    make, proxy = proxied

    def strip(req: httpx.Request, resp: httpx.Response) -> httpx.Response | None:
        if not req.url.path.endswith("/rows"):
            return None
        body = resp.json()
        for row in body["rows"]:
            row.pop("phone_number", None)
            row.pop("id", None)
            if row.get("call"):
                for k in ("calls_count", "outcome", "outcome_summary", "last_call_attempt"):
                    row["call"].pop(k, None)
        return httpx.Response(200, json=body)

    proxy.rewrites.append(strip)
    t = make(csv_bytes([["Ann", fr(1)]]))
    t.engine.tick()
    t.until_final()
    row = t.rows[0]
    assert row["Revox status"] in FINAL_STATES
    assert (row["Outcome"], row["Call summary"], row["Attempts"]) == ("", "", "0")


def test_html_error_page_while_polling_keeps_everything(
    proxied: tuple[Callable[..., Team], Proxy],
) -> None:
    make, proxy = proxied
    t = make(csv_bytes([["Ann", fr(1)]]))
    t.engine.tick()
    cid = next(iter(t.sb.campaign_contacts()))
    down = {"on": True}
    page = "<html>\n<h1>502 Bad Gateway</h1>\n</html>"
    proxy.rewrites.append(
        lambda req, resp: (
            httpx.Response(502, text=page, headers={"retry-after": "0"})
            if down["on"] and req.url.path == f"/campaigns/{cid}"
            else None
        )
    )
    t.sb.advance(100_000)
    s = t.engine.tick()
    assert s.messages == [
        f"polling campaign {cid}: Revox GET /campaigns/{cid}: HTTP 502: <html> "
        "<h1>502 Bad Gateway</h1> </html>"
    ]
    assert t.rows[0]["Revox status"] == "submitted" or t.rows[0]["Revox status"] in IN_FLIGHT_STATES
    down["on"] = False
    t.until_final()
    assert t.rows[0]["Revox status"] in FINAL_STATES


def first_create(
    answer: Callable[[httpx.Response], httpx.Response],
) -> Callable[[httpx.Request, httpx.Response], httpx.Response | None]:
    """A proxy rewrite: the first POST /campaigns is applied, its answer replaced."""
    left = [1]

    def rewrite(req: httpx.Request, resp: httpx.Response) -> httpx.Response | None:
        if req.method == "POST" and req.url.path == "/campaigns" and left[0]:
            left[0] -= 1
            return answer(resp)
        return None

    return rewrite


def test_html_page_answering_the_post_is_reconciled_not_resent(
    proxied: tuple[Callable[..., Team], Proxy],
) -> None:
    make, proxy = proxied
    proxy.rewrites.append(first_create(lambda _: httpx.Response(200, text="<html>Thanks!</html>")))
    t = make(csv_bytes([["Ann", fr(1)], ["Bob", fr(2)]]))
    s = t.engine.tick()
    assert s.messages and "answer is not JSON; may have applied" in s.messages[0]
    t.engine.tick()
    t.until_final()
    assert sorted(t.called()) == [e164(1), e164(2)]
    assert len(t.sb.campaign_contacts()) == 1


def test_campaign_created_without_id_in_the_answer_is_adopted_once(
    proxied: tuple[Callable[..., Team], Proxy],
) -> None:
    make, proxy = proxied

    def no_id(resp: httpx.Response) -> httpx.Response:
        camp = resp.json()["campaign"]
        camp.pop("id")
        return httpx.Response(200, json={"campaign": camp})

    proxy.rewrites.append(first_create(no_id))
    t = make(csv_bytes([["Ann", fr(1)]]))
    assert any("may have been created" in e for e in t.engine.tick().messages)
    t.engine.tick()  # found on Revox by its marker: adopted, not sent again
    t.until_final()
    assert t.called() == [e164(1)]
    assert t.rows[0]["Revox status"] in FINAL_STATES


def test_campaign_deleted_on_revox_keeps_finished_results(
    proxied: tuple[Callable[..., Team], Proxy],
) -> None:
    make, _ = proxied
    t = make(csv_bytes([[f"P{i}", fr(i)] for i in range(8)]))
    t.engine.tick()
    t.sb.advance(45)  # 5 calls at a time: the first five are final, the others not yet
    t.engine.tick()
    done = [r["Revox status"] in FINAL_STATES for r in t.rows]
    assert done == [True] * 5 + [False] * 3
    outcomes = [r["Outcome"] for r in t.rows]
    cid = next(iter(t.sb.campaign_contacts()))
    t.sb.add_fault(Fault("GET", f"/campaigns/{cid}", "status", status=404, times=1))
    t.engine.tick()
    rows = t.rows
    assert [r["Outcome"] for r in rows[:5]] == outcomes[:5]
    assert all(r["Revox status"] in FINAL_STATES for r in rows[:5])
    for r in rows[5:]:
        assert (r["Revox status"], r["Revox error"]) == (
            "failed",
            "the campaign was deleted in Revox",
        )
    before = len(t.sb.requests)
    t.engine.tick()
    assert not any(p.startswith("/campaigns/") for _, p, _ in t.sb.requests[before:])
    assert t.called() == [e164(i) for i in range(8)]


def test_rows_answer_shorter_than_the_contacts_sent(
    proxied: tuple[Callable[..., Team], Proxy],
) -> None:
    """Revox answers 3 rows for 5 contacts: those 3 get their results, nobody is re-sent,
    nobody gets another person's result."""
    make, proxy = proxied
    proxy.rewrites.append(_short_rows)
    t = make(csv_bytes([[f"P{i}", fr(i)] for i in range(5)]))
    t.engine.tick()
    for _ in range(3):
        t.sb.advance(100_000)
        s = t.engine.tick()
        assert s.submitted == 0 and not s.messages
    rows = t.rows
    assert [r["Revox status"] in FINAL_STATES for r in rows] == [True, False, True, False, True]
    by_phone = {r.phone_number: r.call for r in t.engine.revox.campaign_rows(_only(t))}
    for i in (0, 2, 4):
        call = by_phone[e164(i)]
        assert call is not None and rows[i]["Revox status"] == call.status
    for i in (1, 3):
        assert rows[i]["Outcome"] == "" and rows[i]["Attempts"] == ""
    assert len(t.sb.campaign_contacts()) == 1


def _only(t: Team) -> str:
    (cid,) = t.sb.campaign_contacts()
    return cid


def _short_rows(req: httpx.Request, resp: httpx.Response) -> httpx.Response | None:
    if not req.url.path.endswith("/rows"):
        return None
    body = resp.json()
    body["rows"] = [r for r in body["rows"] if r["row_index"] in (0, 2, 4)]
    body["total"] = 3
    return httpx.Response(200, json=body)


def test_contacts_missing_from_a_completed_campaign_are_told_so(
    proxied: tuple[Callable[..., Team], Proxy],
) -> None:
    make, proxy = proxied
    proxy.rewrites.append(_short_rows)
    t = make(csv_bytes([[f"P{i}", fr(i)] for i in range(5)]))
    t.engine.tick()
    for _ in range(3):
        t.sb.advance(100_000)
        s = t.engine.tick()
    assert t.engine.revox.get_campaign(_only(t)).status == "completed"
    rows = t.rows
    for i in (1, 3):
        assert rows[i]["Revox status"] != "submitted" and rows[i]["Revox error"], rows[i]
    assert s.open_campaigns == 0


def test_rows_with_out_of_range_or_repeated_indexes_are_ignored(
    proxied: tuple[Callable[..., Team], Proxy],
) -> None:
    make, proxy = proxied

    def odd(req: httpx.Request, resp: httpx.Response) -> httpx.Response | None:
        if not req.url.path.endswith("/rows"):
            return None
        body = resp.json()
        ghost = json.loads(json.dumps(body["rows"][0]))
        body["rows"] += [dict(ghost, row_index=99), dict(ghost, row_index=-1)]
        return httpx.Response(200, json=body)

    proxy.rewrites.append(odd)
    t = make(csv_bytes([["Ann", fr(1)], ["Bob", fr(2)]]))
    t.engine.tick()
    t.until_final()
    assert all(r["Revox status"] in FINAL_STATES for r in t.rows)
    assert t.engine.state.outbox.count() == 0


def test_list_of_campaigns_in_an_unexpected_shape_never_resends(
    proxied: tuple[Callable[..., Team], Proxy],
) -> None:
    make, proxy = proxied
    proxy.rewrites.append(
        lambda req, resp: (
            httpx.Response(200, json=resp.json()["campaigns"])
            if req.method == "GET" and req.url.path == "/campaigns"
            else None
        )
    )
    t = make(csv_bytes([["Ann", fr(1)], ["Bob", fr(2)]]))
    t.sb.add_fault(Fault("POST", "/campaigns", "drop_after_apply"))
    t.engine.tick()  # the answer is lost: kept as intent
    t.clock.advance(600)
    for _ in range(3):
        with contextlib.suppress(ConnectorError):
            t.engine.tick()
    assert sorted(t.called()) == [e164(1), e164(2)]


def test_one_malformed_campaign_does_not_block_the_others(
    proxied: tuple[Callable[..., Team], Proxy],
) -> None:
    make, proxy = proxied
    t = make(csv_bytes([[f"P{i}", fr(i)] for i in range(4)]), max_contacts=2)
    t.engine.tick()
    bad = sorted(t.sb.campaign_contacts())[0]

    def wrong_type(req: httpx.Request, resp: httpx.Response) -> httpx.Response | None:
        if req.url.path != f"/campaigns/{bad}/rows":
            return None
        body = resp.json()
        body["rows"][0]["row_index"] = "first"
        return httpx.Response(200, json=body)

    proxy.rewrites.append(wrong_type)
    for _ in range(3):
        t.sb.advance(100_000)
        with contextlib.suppress(ConnectorError):
            t.engine.tick()
    good = t.sb.campaign_contacts()[sorted(t.sb.campaign_contacts())[1]]
    rows = {r["Phone"]: r for r in t.rows}
    for p in good:
        row = next(r for r in rows.values() if "+33" + r["Phone"].replace(" ", "")[1:] == p)
        assert row["Revox status"] in FINAL_STATES, row


# --- through the CLI: a hostile server in front of the sandbox ------------------------------


class HostileServer:
    """An HTTP server that forwards to the sandbox, except for the answers a test scripts."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.script: list[tuple[str, str, int, str, dict[str, str]]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, ctype, payload, extra = owner.answer(
                    self.command, self.path, dict(self.headers), body
                )
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(payload)))
                for k, v in extra.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _serve

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def answer(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, str, bytes, dict[str, str]]:
        path = target.split("?")[0]
        for m, pattern, status, text, extra in self.script:
            if m == method and re.fullmatch(pattern, path):
                ctype = "application/json" if text[:1] in "{[" else "text/html"
                return status, ctype, text.encode(), extra
        keep = {k: v for k, v in headers.items() if k.lower() in ("authorization", "content-type")}
        with httpx.Client() as c:
            resp = c.request(method, self.upstream + target, headers=keep, content=body)
        return resp.status_code, "application/json", resp.content, {}

    def __enter__(self) -> HostileServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def _cli_team(folder: Path) -> None:
    (folder / "leads.csv").write_text("Name,Phone\n" + "".join(f"P{i},{fr(i)}\n" for i in range(3)))
    (folder / "t1.yaml").write_text(mapping_yaml())


@pytest.mark.slow
def test_cli_html_pages_are_one_line_errors(tmp_path: Path, sandbox: Sandbox) -> None:
    _cli_team(tmp_path)
    with HostileServer(sandbox.url) as hs:
        env = {"REVOX_API_KEY": API_KEY, "REVOX_BASE_URL": hs.url}
        hs.script = [("GET", "/auth-status", 401, "<html>\n<b>Unauthorized</b>\n</html>", {})]
        proc = run_cli(tmp_path, "check", env=env)
        assert proc.returncode == 3
        assert proc.stderr == (
            "auth error: Revox GET /auth-status: HTTP 401: <html> <b>Unauthorized</b> </html> "
            "(check REVOX_API_KEY)\n"
        )
        hs.script = [("GET", "/auth-status", 503, "<html>busy</html>", {"Retry-After": "0"})]
        proc = run_cli(tmp_path, "check", env=env)
        assert proc.returncode == 1
        assert proc.stderr == "error: Revox GET /auth-status: HTTP 503: <html>busy</html>\n"
        hs.script = [("POST", "/campaigns", 502, "<html>\n<p>gateway</p>\n</html>", {})]
        before = (tmp_path / "leads.csv").read_bytes()
        proc = run_cli(tmp_path, "sync", "t1", "--once", env=env)
        assert proc.returncode == 1
        lines = proc.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: batch ")
        assert lines[0].endswith(
            ": Revox POST /campaigns: HTTP 502; may have been applied (kept as intent, "
            "reconciled next tick)"
        )
        assert (tmp_path / "leads.csv").read_bytes() != before  # keys were stored
        hs.script = []
        proc = run_cli(
            tmp_path, "sync", "t1", "--once",
            env={**env, "REVOX_SYNC_POST_SETTLE_SECONDS": "0"},
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        assert sorted(p for ps in sandbox.campaign_contacts().values() for p in ps) == [
            e164(i) for i in range(3)
        ]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/auth-status", '{"authenticated": null}'),
        ("POST", "/campaigns", '{"campaign": {"name": "no id"}}'),
    ],
    # one malformed campaign in a list is left out and the list marked incomplete
    # (test_generations.py): it never blocks the other campaigns' reconcile
    ids=["auth_status_null", "created_without_id"],
)
def test_cli_wrong_shape_answer_is_one_line(
    tmp_path: Path, sandbox: Sandbox, method: str, path: str, body: str
) -> None:
    _cli_team(tmp_path)
    with HostileServer(sandbox.url) as hs:
        hs.script = [(method, path, 200, body, {})]
        env = {"REVOX_API_KEY": API_KEY, "REVOX_BASE_URL": hs.url}
        proc = run_cli(tmp_path, "check" if method == "GET" else "sync", *(
            [] if method == "GET" else ["t1", "--once"]), env=env)  # fmt: skip
        assert proc.returncode == 1
        assert len(proc.stderr.splitlines()) == 1, proc.stderr
