"""`revox-sync run` as a subprocess (notify socket, HTTP, signals, secrets) and its pieces
in-process (triggers, backoff, redaction, health, metrics). The systemd side: test_systemd."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from subprocess import PIPE, Popen, run
from typing import IO, Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from connector.config import Schedule
from connector.daemon import make_trigger
from connector.health import Backoff, Board
from connector.logs import REDACTED, JsonFormatter, Redactor, TextFormatter, secret_values
from connector.metrics import Metrics
from connector.sandbox import Fault, Sandbox
from connector.summary import TickError
from tests.conftest import API_KEY, cli_command, mapping_yaml, read_csv, write_csv
from tests.test_systemd import NotifySocket, notify_listener, wait_for

ns_fixture = pytest.fixture(notify_listener, name="ns")
FINAL = {"completed", "errored", "cancelled"}
ROWS = [["Ann", "06 12 34 56 78"], ["Bob", "not a phone"], ["Cid", "+1 202 555 0143"]]


def add_team(where: Path, team: str, every: str = "1s", rows: list[list[str]] = ROWS) -> Path:
    write_csv(where / f"{team}.csv", ["Name", "Phone"], rows)
    path = where / f"{team}.yaml"
    path.write_text(f"schedule:\n  every: {every}\n" + mapping_yaml(team, csv_name=f"{team}.csv"))
    return path


def sample(text: str, name: str, **labels: str) -> float | None:
    """A sample's value in Prometheus text, or None (whatever the label order)."""
    found = [s for f in text_string_to_metric_families(text) for s in f.samples]
    return next((float(s.value) for s in found if s.name == name and s.labels == labels), None)


def statuses(csv: Path) -> list[str]:
    return [r.get("Revox status", "") for r in read_csv(csv)]


def _collect(stream: IO[str], sink: list[str]) -> None:
    for line in stream:
        sink.append(line)


class Daemon:
    """`revox-sync run` in a subprocess with its JSON log lines collected."""

    def __init__(self, mappings: Path, env: dict[str, str]) -> None:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("REVOX", "SALESFORCE"))}
        cmd = [*cli_command(mappings), "run", "--http", "127.0.0.1:0"]
        self.started = time.monotonic()
        self.proc = Popen(cmd, stdout=PIPE, stderr=PIPE, text=True, env={**base, **env})
        self.out: list[str] = []
        self.err: list[str] = []
        pairs = ((self.proc.stdout, self.out), (self.proc.stderr, self.err))
        self.readers = [threading.Thread(target=_collect, args=p, daemon=True) for p in pairs]
        for r in self.readers:
            r.start()

    def events(self, event: str | None = None, **match: object) -> list[dict[str, Any]]:
        want = {**match, **({"event": event} if event else {})}
        found = [json.loads(line) for line in list(self.out)]
        return [e for e in found if all(e.get(k) == v for k, v in want.items())]

    def http(self, path: str) -> tuple[int, str]:
        where = wait_for(lambda: self.events("http_listening"), 10, "HTTP")[0]["address"]
        r = httpx.get(f"http://{where}{path}", timeout=5)
        return r.status_code, r.text

    def stop(self, timeout: float = 15) -> tuple[int, float]:
        start = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout)
        took = time.monotonic() - start
        for r in self.readers:
            r.join(5)  # the last lines
        return code, took


def daemon_env(sb_url: str, ns: NotifySocket, **extra: str) -> dict[str, str]:
    env = {"REVOX_API_KEY": API_KEY, "REVOX_BASE_URL": sb_url, "NOTIFY_SOCKET": ns.path}
    return {**env, "WATCHDOG_USEC": "1000000", **extra}


@pytest.mark.slow
def test_daemon_runs_reloads_and_stops(tmp_path: Path, ns: NotifySocket) -> None:
    add_team(tmp_path, "t1", "1s")
    add_team(tmp_path, "t2", "2s")
    with Sandbox(API_KEY, speed=60) as sb:
        d = Daemon(tmp_path, daemon_env(sb.url, ns))
        try:
            ready = wait_for(lambda: ns.seen("READY=1"), 15, "READY=1")[0][0]
            print(f"\nREADY=1 after {ready - d.started:.2f}s")
            csvs = [tmp_path / "t1.csv", tmp_path / "t2.csv"]  # both teams' results written back
            wait_for(lambda: all(set(statuses(c)[0::2]) <= FINAL for c in csvs), 20, "results")
            assert all(statuses(c)[1] == "rejected" for c in csvs)
            assert len(ns.seen("WATCHDOG=1")) >= 2 and ns.seen("STATUS=")
            assert "2 team(s)" in ns.seen("STATUS=")[-1][1]
            code, body = d.http("/healthz")
            health = json.loads(body)
            assert code == 200 and health["status"] == "ok", body
            assert {t["team"]: t["state"] for t in health["teams"]} == {"t1": "ok", "t2": "ok"}
            code, text = d.http("/metrics")
            assert code == 200 and sample(text, "revox_sync_ticks_total", team="t1", result="ok")
            assert sample(text, "revox_sync_ticks_total", team="t2", result="ok")
            assert sample(text, "revox_sync_api_requests_total", team="t1", service="revox")
            assert sample(text, "revox_sync_outbox_rows", team="t1") == 0
            add_team(tmp_path, "t3", "1s")  # SIGHUP adds a team
            d.proc.send_signal(signal.SIGHUP)
            wait_for(lambda: d.events("reload", opened=["t3"]), 10, "the reload")
            wait_for(lambda: statuses(tmp_path / "t3.csv")[0], 10, "t3 written back")
            broken = tmp_path / "t4.yaml"  # a broken file leaves the configuration as it was
            broken.write_text("team: t4\nschedule: {every: soon}\n")
            d.proc.send_signal(signal.SIGHUP)
            rejected = wait_for(lambda: d.events("reload_rejected"), 10, "the rejection")
            assert any(str(broken) in e["message"] for e in rejected), rejected
            after = len(d.events("tick", team="t1"))
            wait_for(lambda: len(d.events("tick", team="t1")) > after, 10, "t1 ticking on")
            assert d.proc.poll() is None and d.http("/healthz")[0] == 200
            broken.unlink()
        finally:
            code, took = d.stop()
    ticks = {t: len(d.events("tick", team=t)) for t in ("t1", "t2", "t3")}
    print(f"ticks {ticks}; exit {code} {took:.2f}s after SIGTERM")
    assert code == 0 and took < 10, d.err
    assert wait_for(lambda: ns.seen("STOPPING=1"), 5, "STOPPING=1") and d.events("stopped")
    assert not "".join(d.err).strip(), d.err  # everything goes to the JSON log on stdout
    status = run(
        [*cli_command(tmp_path), "status", "--format", "json"], capture_output=True, timeout=30
    )
    report = json.loads(status.stdout)
    assert {r["team"] for r in report} == {"t1", "t2", "t3"}
    assert all(r["outbox"] == 0 for r in report), report


@pytest.mark.slow
def test_a_tick_past_its_limit_stops_the_watchdog(tmp_path: Path, ns: NotifySocket) -> None:
    """A hung tick must not be vouched for: systemd's watchdog then restarts the service."""
    add_team(tmp_path, "t1", "1s")
    with Sandbox(API_KEY, speed=60) as sb:
        sb.add_fault(Fault("POST", "/campaigns", "hang", delay=30, times=5))
        env = daemon_env(sb.url, ns, REVOX_SYNC_TICK_LIMIT="1", REVOX_SYNC_STOP_TIMEOUT="1")
        d = Daemon(tmp_path, env)
        try:
            wait_for(lambda: d.events("tick_hung", teams=["t1"]), 15, "the hung tick")
            pings = len(ns.seen("WATCHDOG=1"))
            time.sleep(2.5)  # five watchdog periods of 0.5 s
            assert len(ns.seen("WATCHDOG=1")) == pings
        finally:
            d.stop()


@pytest.mark.slow
def test_stop_timeout_cuts_a_hung_tick(tmp_path: Path, ns: NotifySocket) -> None:
    add_team(tmp_path, "t1", "1s")
    with Sandbox(API_KEY, speed=60) as sb:
        sb.add_fault(Fault("POST", "/campaigns", "hang", delay=30, times=5))
        d = Daemon(tmp_path, daemon_env(sb.url, ns, REVOX_SYNC_STOP_TIMEOUT="1"))
        wait_for(lambda: "Revox ID" in (read_csv(tmp_path / "t1.csv") or [{}])[0], 15, "keys")
        time.sleep(0.3)  # the POST /campaigns is hanging now
        code, took = d.stop()
    assert code == 1 and 1 <= took < 5, (code, took)
    assert d.events("stop_timeout", team="t1"), d.out


class EchoRevox(BaseHTTPRequestHandler):
    """A Revox that refuses the key and echoes it back, as careless servers do."""

    def _echo(self) -> None:
        self.send_response(401)
        self.end_headers()  # HTTP/1.0: the body ends with the connection
        self.wfile.write(f"unauthorized: {self.headers.get('Authorization')}".encode())

    do_GET = do_POST = _echo


SECRETS = {
    "REVOX_API_KEY": "rvx_live_Kq8Zt3Wm",
    "SALESFORCE_PASSWORD": 'pa"ss\\wörd-9',
    "SALESFORCE_SECURITY_TOKEN": "tokEN5544aa",
    "SALESFORCE_SESSION_ID": "00Dxx!AQ0AQsess1on",
    "ACME_WEBHOOK_SECRET": "whsec_Zz91Yy",
    "EXTRA_API_TOKEN": "Xtra-Tok-3141",
}


@pytest.mark.slow
def test_no_secret_reaches_any_output(tmp_path: Path, ns: NotifySocket) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), EchoRevox)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    echo = f"http://127.0.0.1:{server.server_address[1]}"
    add_team(tmp_path, "echo")  # Revox answers 401 with the key: the team is disabled
    (tmp_path / SECRETS["EXTRA_API_TOKEN"]).mkdir()  # a tick fails naming this directory
    teams = {"missing": SECRETS["ACME_WEBHOOK_SECRET"], "dir": SECRETS["EXTRA_API_TOKEN"]}
    for team, path in teams.items():
        text = "schedule: {every: 1s}\n" + mapping_yaml(team, csv_name=path)
        (tmp_path / f"{team}.yaml").write_text(text)
    sf = mapping_yaml("sf").replace(  # Salesforce echoes the session id in its 401
        "type: csv\n  path: leads.csv\n  key_column: Revox ID",
        "type: salesforce\n  where: IsDeleted = false",
    )
    (tmp_path / "sf.yaml").write_text("schedule: {every: 1s}\n" + sf)
    (tmp_path / "bad.yaml").write_text(f"team: {json.dumps(SECRETS['SALESFORCE_PASSWORD'])}\n")
    env = {**SECRETS, "REVOX_BASE_URL": echo, "SALESFORCE_EMULATOR_HOST": echo[7:]}
    env["SALESFORCE_INSTANCE_URL"] = "https://acme.my.salesforce.com"
    env["REVOX_SYNC_LOG_LEVEL"] = "DEBUG"
    d = Daemon(tmp_path, {**env, "NOTIFY_SOCKET": ns.path})
    try:
        wait_for(lambda: len(d.events("team_disabled")) >= 3, 15, "echo, missing, sf disabled")
        wait_for(lambda: len(d.events("tick", team="dir")) >= 2, 10, "dir failing twice")
        (tmp_path / "bad2.yaml").write_text(f"team: x\nsource: {SECRETS['SALESFORCE_PASSWORD']}\n")
        d.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: d.events("reload_rejected"), 10, "the rejection")
        health = d.http("/healthz")[1]
    finally:
        code, _ = d.stop()
        server.shutdown()
    assert code == 0
    everything = "".join(d.out + d.err) + health + str(ns.lines)
    assert {e["team"] for e in d.events("team_disabled")} == {"echo", "missing", "sf"}
    assert REDACTED in everything and "Bearer [REDACTED]" in everything
    for value in SECRETS.values():
        for form in (value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]):
            assert form not in everything, f"{value!r} leaked"


# --- the pieces, in-process ------------------------------------------------------------------
def test_schedule_to_trigger() -> None:
    trigger, base = make_trigger(Schedule(every="5m", cron=None))
    assert trigger.interval.total_seconds() == 300 and base == 300 and 0 < trigger.jitter <= 30
    cron, base = make_trigger(
        Schedule(every=None, cron="*/5 8-19 * * mon-fri", timezone="Europe/Paris")
    )
    assert str(cron.timezone) == "Europe/Paris" and cron.jitter == 30 and base == 60
    assert "hour='8-19'" in str(cron) and "day_of_week='mon-fri'" in str(cron)
    # config.py validates these too; the daemon must not trust a mapping built another way
    raw = Schedule.model_construct
    for bad, field in (
        (raw(every=None, cron="61 * * * *", timezone="UTC"), "cron"),
        (raw(every="0s", cron=None, timezone="UTC"), "every"),
        (raw(every=None, cron="* * * * *", timezone="Mars/Olympus"), "timezone"),
    ):
        with pytest.raises(ValueError, match=f"schedule.{field}"):
            make_trigger(bad)


def test_backoff_grows_caps_and_resets() -> None:
    b = Backoff(base=30, cap=600)
    assert [b.failed(0) for _ in range(6)] == [60, 120, 240, 480, 600, 600]
    assert not b.ready(100) and b.ready(600)
    b.succeeded()
    assert b.ready(0) and b.failures == 0
    assert Backoff(base=3600).failed(0) == 3600  # an hourly team is not delayed further


def test_redaction_covers_messages_extras_tracebacks_and_escapes() -> None:
    env = {**SECRETS, "PATH": "/usr/bin", "SHORT_KEY": "abc", "HOME": "/root"}
    assert set(secret_values(env)) == set(SECRETS.values())  # SHORT_KEY is too short
    r = Redactor(secret_values(env))
    record = logging.LogRecord("x", 40, __file__, 1, "auth %s", ("Bearer abc.def",), None)
    try:
        raise RuntimeError(f"boom {SECRETS['SALESFORCE_PASSWORD']}")
    except RuntimeError:
        record.exc_info = sys.exc_info()
    record.__dict__.update(team="t1", detail={"k": [SECRETS["REVOX_API_KEY"]]})
    for formatter in (JsonFormatter(r), TextFormatter(r)):
        line = formatter.format(record)
        assert "Bearer [REDACTED]" in line and "RuntimeError" in line and "t1" in line
        for value in SECRETS.values():
            assert value not in line and json.dumps(value)[1:-1] not in line


def test_health_board_and_metrics() -> None:
    now = [1000.0]
    board = Board(Redactor(["sekret-value"]), unhealthy_after=900, clock=lambda: now[0])
    board.scheduler_running = lambda: True
    board.add("t1", "/m/t1.yaml", "1m")
    board.failure("t1", "Revox GET /campaigns: HTTP 503: sekret-value")
    code, body = board.report()
    assert code == 200 and body["teams"][0]["state"] == "failing"
    assert "sekret-value" not in json.dumps(body)
    now[0] += 901
    assert board.report()[0] == 503 and board.report()[1]["failing_longer_than_threshold"] == ["t1"]
    board.success("t1", "t1: read 1")
    assert board.report()[0] == 200
    board.scheduler_running = lambda: False
    assert board.report()[0] == 503
    m = Metrics()
    down = TickError("tick", "revox", "Revox POST /campaigns: HTTP 503: down", 503)
    m.observe_outcome("t1", 0.2, None, [down], 1)
    text = m.render()[0].decode()
    assert sample(text, "revox_sync_ticks_total", team="t1", result="failed") == 1
    assert sample(text, "revox_sync_api_errors_total", team="t1", service="revox", status="503")
