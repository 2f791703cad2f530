"""Issue 11, item 10: operator paths that worked against the user.

`check` stopped at its first problem; errors from reading a source named the CSV, not the
mapping field; a reload with one broken file applied nothing; a short key was redacted
inside words; `preview | head` ended in a traceback; a bad REVOX_SYNC_* value was a
traceback; CLI errors were not redacted. Each test below failed on that code.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from connector.config import LoadedMapping
from connector.daemon import Daemon
from connector.logs import REDACTED, Redactor, secret_values
from connector.sandbox import Sandbox
from tests.conftest import (
    API_KEY,
    ASSISTANT,
    make_team,
    mapping_yaml,
    revox_env,
    run_cli,
    write_csv,
)

ROWS = [["Ann", "06 12 34 56 78"], ["Bob", "not a phone"]]


def _no_phone_column(tmp: Path) -> Path:
    path = make_team(tmp, ROWS)
    path.write_text(path.read_text().replace("phone: Phone", "phone: Mobile"))
    return path


def _column_problem(tmp: Path, path: Path) -> str:
    return (
        f"config error: {path}:7: contacts.phone: no column 'Mobile' in "
        f"csv:{tmp / 'leads.csv'} (headers: Name, Phone)"
    )


def test_check_without_a_key_still_checks_the_columns(tmp_path: Path) -> None:
    path = _no_phone_column(tmp_path)
    proc = run_cli(tmp_path, "check")
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        "config error: REVOX_API_KEY is not set (put it in the environment file)",
        _column_problem(tmp_path, path),
    ]


def test_an_unreachable_revox_does_not_hide_missing_columns(tmp_path: Path) -> None:
    path = _no_phone_column(tmp_path)
    env = {"REVOX_API_KEY": "k" * 20, "REVOX_BASE_URL": "http://127.0.0.1:9"}
    proc = run_cli(tmp_path, "check", env=env)
    assert proc.returncode == 2
    first, second = proc.stderr.splitlines()
    assert first == _column_problem(tmp_path, path)
    assert second.startswith("error: Revox GET /auth-status: ")


def test_a_refused_key_and_a_missing_column_are_both_reported(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    path = _no_phone_column(tmp_path)
    proc = run_cli(tmp_path, "check", env=revox_env(sandbox, "wrong-key-123456"))
    assert proc.returncode == 2  # a configuration problem wins over an auth one
    lines = proc.stderr.splitlines()
    assert lines[0] == _column_problem(tmp_path, path)
    assert lines[1].startswith("auth error: Revox GET /auth-status: HTTP 401")


def test_check_reports_an_unknown_assistant_at_its_line(tmp_path: Path, sandbox: Sandbox) -> None:
    path = make_team(tmp_path, ROWS)
    sandbox.assistants = {"00000000-0000-4000-8000-000000000000"}
    proc = run_cli(tmp_path, "check", env=revox_env(sandbox))
    assert proc.returncode == 2
    assert proc.stderr == (
        f"config error: {path}:12: campaign.assistant_id: no such assistant on this account "
        "(copy the id from the Revox dashboard)\n"
    )
    sandbox.assistants = {ASSISTANT}
    ok = run_cli(tmp_path, "check", env=revox_env(sandbox))
    assert ok.returncode == 0, ok.stderr
    assert f"t1: assistant {ASSISTANT} found" in ok.stdout
    assert "t1: 2 row(s) in csv:" in ok.stdout


def test_only_an_auth_problem_exits_3(tmp_path: Path, sandbox: Sandbox) -> None:
    make_team(tmp_path, ROWS)
    proc = run_cli(tmp_path, "check", env=revox_env(sandbox, "wrong-key-123456"))
    assert proc.returncode == 3 and proc.stderr.startswith("auth error: ")


def test_sync_names_the_mapping_field_of_a_missing_column(tmp_path: Path, sandbox: Sandbox) -> None:
    path = _no_phone_column(tmp_path)
    proc = run_cli(tmp_path, "sync", "t1", "--once", env=revox_env(sandbox))
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [_column_problem(tmp_path, path)]


def test_reload_applies_each_file_on_its_own(tmp_path: Path) -> None:
    maps = tmp_path / "maps"
    maps.mkdir()
    for team in ("t1", "t2"):
        write_csv(maps / f"{team}.csv", ["Name", "Phone"], ROWS)
        (maps / f"{team}.yaml").write_text(mapping_yaml(team, csv_name=f"{team}.csv"))
    env = {"REVOX_API_KEY": API_KEY, "REVOX_BASE_URL": "http://127.0.0.1:9"}
    d = Daemon(maps, tmp_path / "state", env, Redactor([]))
    d._pending, failed = d._load()
    d._settle()
    assert sorted(d.slots) == ["t1", "t2"] and not failed
    first_t2 = d.slots["t2"].loaded
    (maps / "t1.yaml").write_text("schedule: {every: 2m}\n" + mapping_yaml("t1", csv_name="t1.csv"))
    (maps / "t2.yaml").write_text("team: t2\nschedule: {every: soon}\n")  # broken
    write_csv(maps / "t3.csv", ["Name", "Phone"], ROWS)
    (maps / "t3.yaml").write_text(mapping_yaml("t3", csv_name="t3.csv"))
    try:
        d._reload()
        assert sorted(d.slots) == ["t1", "t2", "t3"]
        assert d.slots["t1"].loaded.mapping.schedule.every == "2m"  # the good file applied
        assert d.slots["t2"].loaded == first_t2  # the broken one keeps its last good mapping
        _, body = d.board.report()
        teams = {t["team"]: t for t in body["teams"]}
        assert str(maps / "t2.yaml") in teams["t2"]["config_problem"]
        assert teams["t1"]["config_problem"] is None
        assert any("schedule.every" in p for p in body["config_problems"])
        metrics = d.metrics.render()[0].decode()
        assert "revox_sync_config_problems 1.0" in metrics
        assert 'revox_sync_reloads_total{result="partial"} 1.0' in metrics
        (maps / "t2.yaml").write_text(mapping_yaml("t2", csv_name="t2.csv"))
        d._reload()
        _, body = d.board.report()
        assert body["config_problems"] == []
        assert all(t["config_problem"] is None for t in body["teams"])
        assert isinstance(d.slots["t2"].loaded, LoadedMapping)
    finally:
        for slot in [*d.slots.values(), *d._retiring]:
            d._close(slot)


def test_short_secrets_never_redact_inside_words() -> None:
    env = {"REVOX_API_KEY": "key", "EXTRA_TOKEN": "1234567", "OTHER_SECRET": "s3cr3t-long"}
    assert secret_values(env) == ["s3cr3t-long"]
    r = Redactor(secret_values(env))
    assert r.redact("invalid API key") == "invalid API key"
    assert r.redact("key=s3cr3t-long;") == f"key={REDACTED};"
    assert Redactor(["key"]).redact("invalid API key") == "invalid API key"


def test_cli_errors_are_redacted_like_logs(tmp_path: Path) -> None:
    secret = "rvx_live_Zq81Wm33Xy"
    (tmp_path / "t1.yaml").write_text(mapping_yaml(csv_name=f"{secret}.csv"))
    proc = run_cli(tmp_path, "preview", "t1", env={"REVOX_API_KEY": secret})
    assert proc.returncode == 2
    assert secret not in proc.stderr and f"{REDACTED}.csv does not exist" in proc.stderr


def test_preview_into_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    make_team(tmp_path, [[f"P{i}", f"06 12 34 {i // 100:02d} {i % 100:02d}"] for i in range(3000)])
    cmd = (
        f"'{sys.executable}' -m connector.cli --mappings '{tmp_path}' "
        f"--state-dir '{tmp_path / 'state'}' preview t1 | head -1"
    )
    proc = subprocess.run(
        ["bash", "-c", cmd], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert proc.returncode == 0
    assert proc.stdout.startswith("  row")
    assert proc.stderr == ""


def test_a_bad_setting_is_one_line_and_exit_2(tmp_path: Path) -> None:
    make_team(tmp_path, ROWS)
    for command in (["status"], ["sync", "t1", "--once"], ["preview", "t1"]):
        proc = run_cli(tmp_path, *command, env={"REVOX_SYNC_POST_SETTLE_SECONDS": "abc"})
        assert proc.returncode == 2
        assert proc.stderr == (
            "config error: REVOX_SYNC_POST_SETTLE_SECONDS: 'abc' is not a number "
            "(write seconds, e.g. 120)\n"
        )
    env = {"REVOX_SYNC_WORKERS": "0", "REVOX_SYNC_LOG_LEVEL": "loud"}
    proc = run_cli(tmp_path, "run", env=env)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        "config error: REVOX_SYNC_WORKERS: '0' must be between 1 and 256",
        "config error: REVOX_SYNC_LOG_LEVEL: 'loud' is not a log level (write one of DEBUG, "
        "INFO, WARNING, ERROR, CRITICAL)",
    ]
