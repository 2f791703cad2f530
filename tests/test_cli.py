"""`revox-sync` end to end in a subprocess: exit codes, output shapes, no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from connector.sandbox import Sandbox
from tests.conftest import make_team, read_csv, revox_env, run_cli

ROWS = [["Ann", "06 12 34 56 78"], ["Bob", "not a phone"], ["Cid", "+1 202 555 0143"]]


def test_schema_matches_the_committed_file(tmp_path: Path) -> None:
    proc = run_cli(tmp_path, "schema")
    assert proc.returncode == 0
    committed = Path(__file__).parent.parent / "mappings" / "schema.json"
    assert json.loads(proc.stdout) == json.loads(committed.read_text())


def test_check_exit_codes(tmp_path: Path, sandbox: Sandbox) -> None:
    make_team(tmp_path, ROWS)
    assert run_cli(tmp_path, "check", env=revox_env(sandbox)).returncode == 0
    bad_key = run_cli(tmp_path, "check", env=revox_env(sandbox, "nope"))
    assert bad_key.returncode == 3 and "auth error" in bad_key.stderr
    no_key = run_cli(tmp_path, "check", env={"REVOX_BASE_URL": sandbox.url})
    assert no_key.returncode == 2 and "REVOX_API_KEY" in no_key.stderr


def test_config_errors_name_file_line_and_field(tmp_path: Path) -> None:
    path = make_team(tmp_path, ROWS)
    path.write_text(path.read_text().replace("max_contacts: 500", "max_contacts: -1"))
    proc = run_cli(tmp_path, "check")
    assert proc.returncode == 2
    assert f"{path}:" in proc.stderr and "campaign.max_contacts" in proc.stderr


def test_missing_column_lists_the_headers_found(tmp_path: Path, sandbox: Sandbox) -> None:
    path = make_team(tmp_path, ROWS)
    path.write_text(path.read_text().replace("phone: Phone", "phone: Mobile"))
    proc = run_cli(tmp_path, "sync", "t1", "--once", env=revox_env(sandbox))
    assert proc.returncode == 2
    assert "'Mobile'" in proc.stderr and "Name, Phone" in proc.stderr


def test_unknown_team(tmp_path: Path) -> None:
    make_team(tmp_path, ROWS)
    proc = run_cli(tmp_path, "preview", "nobody")
    assert proc.returncode == 2 and "teams found: t1" in proc.stderr


def test_preview_json_lines(tmp_path: Path) -> None:
    make_team(tmp_path, ROWS)
    proc = run_cli(tmp_path, "preview", "t1", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(x) for x in proc.stdout.splitlines()]
    assert [set(x) for x in lines] == [
        {
            "key",
            "row",
            "phone_input",
            "to_phone_number",
            "prompt_variables",
            "status",
            "reason",
            "message",
        }
    ] * 3
    assert [x["status"] for x in lines] == ["new", "rejected", "new"]
    assert lines[0]["to_phone_number"] == "+33612345678" and lines[0]["row"] == 2
    assert lines[0]["prompt_variables"] == {"first_name": "Ann"}
    assert lines[1]["reason"] == "invalid_phone" and lines[1]["to_phone_number"] is None
    assert not (tmp_path / "state").exists()  # preview writes no state


def test_sync_status_and_preview_after(tmp_path: Path, sandbox: Sandbox) -> None:
    make_team(tmp_path, ROWS)
    dry = run_cli(tmp_path, "sync", "t1", "--once", "--dry-run", env=revox_env(sandbox))
    assert dry.returncode == 0 and dry.stdout.startswith("dry run: ")
    assert sandbox.requests == []
    proc = run_cli(tmp_path, "sync", "t1", "--once", env=revox_env(sandbox))
    assert proc.returncode == 0, proc.stderr
    assert "read 3, new 2, rejected 1, submitted 2, campaigns created 1" in proc.stdout
    status = json.loads(run_cli(tmp_path, "status", "--format", "json").stdout)
    assert status[0]["rows"] == {"rejected": 1, "submitted": 2}
    assert status[0]["open_campaigns"] == 1 and status[0]["outbox"] == 0
    after = [
        json.loads(x)
        for x in run_cli(tmp_path, "preview", "t1", "--format", "json").stdout.splitlines()
    ]
    assert [x["status"] for x in after] == ["submitted", "rejected", "submitted"]
    assert all(x["key"] for x in after)
    table = run_cli(tmp_path, "status")
    assert "t1: rows" in table.stdout and "open campaigns 1" in table.stdout


def test_unreachable_revox_is_a_clear_error(tmp_path: Path) -> None:
    make_team(tmp_path, ROWS)
    proc = run_cli(
        tmp_path, "check", env={"REVOX_API_KEY": "k", "REVOX_BASE_URL": "http://127.0.0.1:9"}
    )
    # check asks GET /auth-status first now (issue 11, item 10)
    assert proc.returncode == 1 and proc.stderr.startswith("error: Revox GET /auth-status")


@pytest.mark.slow
def test_demo_ends_with_the_results_csv(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "connector.cli", "demo", "--dir", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    last = proc.stdout.strip().splitlines()[-1]
    assert last == str(tmp_path / "demo" / "leads.csv")
    rows = {r["First name"]: r for r in read_csv(Path(last))}
    assert rows["Camille"]["Outcome"] and rows["Camille"]["Revox status"] == "completed"
    assert rows["Tom"]["Revox error"].startswith("duplicate_phone")
    assert rows["Lina"]["Revox error"].startswith("do_not_call")
    assert rows["Mia"]["Revox error"].startswith("invalid_phone")
    assert rows["Sacha"]["Revox error"].startswith("missing_phone")
    assert rows["Léo"]["Revox error"].startswith("missing_variable")
    assert rows["Anna"]["Revox status"] == ""  # filtered out by include_when
    good = [r for r in rows.values() if r["Revox status"] not in ("", "rejected")]
    assert len(good) == 23 and all(r["Revox status"] in ("completed", "errored") for r in good)


def test_sandbox_command_serves_until_sigterm(tmp_path: Path) -> None:
    import signal

    import httpx

    proc = subprocess.Popen(
        [sys.executable, "-m", "connector.cli", "sandbox", "--port", "0", "--api-key", "k1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        url = first.split()[3]
        assert url.startswith("http://127.0.0.1:")
        assert httpx.get(f"{url}/_sandbox/state").json()["campaigns"] == 0
        assert (
            httpx.get(f"{url}/campaigns", headers={"Authorization": "Bearer k1"}).status_code == 200
        )
        assert (
            httpx.get(f"{url}/campaigns", headers={"Authorization": "Bearer no"}).status_code == 401
        )
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        err = proc.stderr.read() if proc.stderr else ""
        assert "Traceback" not in err
    finally:
        proc.kill()
