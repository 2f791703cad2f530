"""Secrets never leave the environment (issue 6).

One deployment with three teams (a CSV, a Salesforce org behind its emulator with a password
and a security token, a Google Sheet reached with a service-account key through the JWT flow)
runs every command through the CLI with recognisable fake secrets in the environment: check,
preview, sync until every call ended (verbose), status, the daemon with its health endpoint,
and failing runs with a wrong Revox key and a wrong Salesforce password. Then every byte the
connector produced is searched: stdout and stderr of each command, the state files, the CSV,
what was written into Salesforce and the Sheet, and the recorded cassettes. The state must be
JSON (never pickle), mode 0600 in a 0700 directory.
"""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from connector.sandbox import Sandbox
from emulators.salesforce import SalesforceEmulator
from emulators.sheets import SheetsEmulator
from tests.conftest import cli_env, team_mapping

REVOX_KEY = "rvx-SECRET-key-0123456789abcdef"
WRONG_REVOX_KEY = "rvx-WRONG-key-fedcba9876543210"
SF_USER = "ops@example.com"
SF_PASSWORD = "sf-SECRET-pass-0123"
SF_TOKEN = "sfSECRETtoken4567"
WRONG_SF_PASSWORD = "sf-WRONG-pass-8899"
SA_EMAIL = "revox-sync@secrets-test.iam.gserviceaccount.com"
SA_KEY_ID = "kid-SECRET-7f3a9c"
SID = "1RevoxSecretsSheet_abcdefgh"
CASSETTES = Path(__file__).parent / "cassettes"
# what the cassettes were recorded with (tests/test_salesforce.py, tests/test_google_sheets.py)
RECORDING_SECRETS = ["pass-word-1", "TOKEN123", "!AQ", "ya29.", "PRIVATE KEY", "Bearer "]


def phone(i: int) -> str:
    return f"06 12 34 {i // 100:02d} {i % 100:02d}"


CSV_TEAM = team_mapping(
    "t-csv",
    {"type": "csv", "path": "leads.csv"},
    schedule="{every: 2s}",
    campaign="max_contacts: 3",
    write_back="columns: {status: Revox status, outcome: Outcome, summary: Call summary,\n"
    "          error: Revox error, recording_url: Recording, call_id: Revox call}\n"
    "structured_output: {email: Email}",
)
SF_TEAM = team_mapping(
    "t-sf",
    {"type": "salesforce", "object": "Lead", "where": "\"Company = 'Acme'\""},
    schedule="{every: 2s}",
    prompt_variables="{first_name: FirstName}",
    campaign="",
    write_back="fields: {status: Revox_Status__c, outcome: Revox_Outcome__c}\nlog_call_task: true",
)
SHEETS_TEAM = team_mapping(
    "t-sheets",
    {
        "type": "google_sheets",
        "spreadsheet": f"https://docs.google.com/spreadsheets/d/{SID}/edit",
        "worksheet": "Leads",
    },
    schedule="{every: 2s}",
    campaign="",
    write_back="columns: {status: Revox status, outcome: Outcome}",
)
TEAMS = ("t-csv", "t-sf", "t-sheets")


@dataclass
class Deployment:
    dir: Path
    env: dict[str, str]
    sb: Sandbox
    sf: SalesforceEmulator
    sheets: SheetsEmulator
    secrets: list[str]
    outputs: dict[str, tuple[int, str, str]] = field(default_factory=dict)

    def cli(self, name: str, *args: str, env: dict[str, str] | None = None) -> int:
        full = cli_env(self.env | (env or {}))
        proc = subprocess.run(
            [sys.executable, "-m", "connector.cli", *args],
            capture_output=True,
            text=True,
            env=full,
            timeout=120,
            cwd=self.dir,
        )
        self.outputs[name] = (proc.returncode, proc.stdout, proc.stderr)
        assert "Traceback" not in proc.stderr, proc.stderr
        return proc.returncode

    def run_daemon(self, seconds: float) -> None:
        """`revox-sync run` with its health endpoint, stopped with SIGTERM."""
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        full = cli_env(self.env)
        proc = subprocess.Popen(
            [sys.executable, "-m", "connector.cli", "-v", "run", "--http", f"127.0.0.1:{port}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=full,
            cwd=self.dir,
        )
        pages: list[str] = []
        deadline = time.monotonic() + seconds
        try:
            while time.monotonic() < deadline:
                time.sleep(0.5)
                self.sb.advance(600)
                for path in ("/healthz", "/metrics"):
                    with contextlib.suppress(httpx.HTTPError):
                        pages.append(httpx.get(f"http://127.0.0.1:{port}{path}", timeout=2).text)
        finally:
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=60)
        self.outputs["run"] = (proc.returncode, out + "\n".join(pages), err)
        assert pages, "the health endpoint answered"
        assert "Traceback" not in err, err


def _service_account(folder: Path, key: rsa.RSAPrivateKey, token_uri: str) -> tuple[Path, str]:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    info = {
        "type": "service_account",
        "project_id": "secrets-test",
        "private_key_id": SA_KEY_ID,
        "private_key": pem,
        "client_email": SA_EMAIL,
        "client_id": "100000000000000000042",
        "token_uri": token_uri,
    }
    path = folder / "sa-key.json"
    path.write_text(json.dumps(info))
    path.chmod(0o600)
    body = "".join(pem.strip().splitlines()[1:-1])
    return path, body


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    folder = tmp_path_factory.mktemp("secrets")
    mappings = folder / "mappings"
    mappings.mkdir()
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with (
        Sandbox(REVOX_KEY) as sb,
        SalesforceEmulator(username=SF_USER, password=SF_PASSWORD, security_token=SF_TOKEN) as sf,
        SheetsEmulator(require_auth=True, static_tokens=()) as sheets,
    ):
        (folder / "mappings" / "leads.csv").write_text(
            "Name,Phone\n" + "".join(f"P{i},{phone(i)}\n" for i in range(5)) + "Bad,12\n"
        )
        for name, text in (("csv", CSV_TEAM), ("sf", SF_TEAM), ("sheets", SHEETS_TEAM)):
            (mappings / f"{name}.yaml").write_text(textwrap.dedent(text))
        sf.add_field("Lead", "Revox_Status__c")
        sf.add_field("Lead", "Revox_Outcome__c")
        sf.add_records(
            "Lead",
            [{"FirstName": f"F{i}", "LastName": f"L{i}", "Company": "Acme", "Phone": phone(10 + i)}
             for i in range(4)],
        )  # fmt: skip
        rows = [["Name", "Phone"], *[[f"S{i}", phone(20 + i)] for i in range(4)]]
        sheets.add_spreadsheet(SID, {"Leads": rows}, shared_with={SA_EMAIL})
        sheets.register_service_account(SA_EMAIL, key.public_key())
        key_file, pem_body = _service_account(folder, key, f"{sheets.url}/token")
        env = {
            "REVOX_API_KEY": REVOX_KEY,
            "REVOX_BASE_URL": sb.url,
            "REVOX_SYNC_MAPPINGS": str(mappings),
            "REVOX_SYNC_STATE_DIR": str(folder / "state"),
            "SALESFORCE_USERNAME": SF_USER,
            "SALESFORCE_PASSWORD": SF_PASSWORD,
            "SALESFORCE_SECURITY_TOKEN": SF_TOKEN,
            "SALESFORCE_EMULATOR_HOST": sf.host,
            "SHEETS_EMULATOR_HOST": sheets.host,
            "GOOGLE_APPLICATION_CREDENTIALS": str(key_file),
        }
        secrets = [
            REVOX_KEY,
            WRONG_REVOX_KEY,
            SF_PASSWORD,
            SF_TOKEN,
            SF_PASSWORD + SF_TOKEN,
            WRONG_SF_PASSWORD,
            SA_KEY_ID,
            pem_body[:64],
            pem_body[-64:],
            "PRIVATE KEY",
            "!AQ",  # every Salesforce session id the emulator issues
            "ya29.",  # every Google access token the emulator issues
            "Bearer ",
        ]
        d = Deployment(folder, env, sb, sf, sheets, secrets)

        assert d.cli("check", "check") == 0
        for team in TEAMS:
            assert d.cli(f"preview {team}", "preview", team) == 0
            assert d.cli(f"preview {team} json", "preview", team, "--format", "json") == 0
            assert d.cli(f"dry run {team}", "sync", team, "--once", "--dry-run") == 0
        for n in range(4):
            for team in TEAMS:
                d.cli(f"sync {team} #{n}", "-v", "sync", team, "--once")
            sb.advance(100_000)
        assert d.cli("status", "status") == 0
        assert d.cli("status json", "status", "--format", "json") == 0
        assert d.cli("check, wrong Revox key", "check", env={"REVOX_API_KEY": WRONG_REVOX_KEY}) == 3
        with (mappings / "leads.csv").open("a") as f:
            f.write(f"Late,{phone(9)}\n")  # something to send, so the key is used
        assert (
            d.cli(
                "sync, wrong Revox key",
                "-v",
                "sync",
                "t-csv",
                "--once",
                env={"REVOX_API_KEY": WRONG_REVOX_KEY},
            )
            == 3
        )
        wrong_sf = {"SALESFORCE_PASSWORD": WRONG_SF_PASSWORD}
        assert (
            d.cli("sync, wrong Salesforce password", "-v", "sync", "t-sf", "--once", env=wrong_sf)
            == 3
        )
        assert d.cli("check, wrong Salesforce password", "check", "t-sf", env=wrong_sf) == 3
        d.run_daemon(6.0)
        yield d


def test_every_command_ran_as_expected(deployment: Deployment) -> None:
    d = deployment
    status = json.loads(d.outputs["status json"][1])
    assert {t["team"]: t["rows"] for t in status} == {
        "t-csv": {"done": 5, "rejected": 1},
        "t-sf": {"done": 4},
        "t-sheets": {"done": 4},
    }
    assert all(t["outbox"] == 0 and t["open_campaigns"] == 0 for t in status)
    assert len(d.sf.records("Task")) == 4
    rc, _, err = d.outputs["check, wrong Revox key"]
    assert rc == 3 and err.startswith("auth error: Revox GET /auth-status: HTTP 401")
    rc, _, err = d.outputs["sync, wrong Salesforce password"]
    assert rc == 3 and "Salesforce refused the login" in err
    assert d.outputs["run"][0] == 0


def test_no_secret_in_any_command_output(deployment: Deployment) -> None:
    d = deployment
    assert len(d.outputs) >= 25
    for name, (_, out, err) in d.outputs.items():
        for secret in d.secrets:
            assert secret not in out, (name, secret, "stdout")
            assert secret not in err, (name, secret, "stderr")
    # the verbose runs did log something, so silence is not why nothing leaked
    assert "INFO" in d.outputs["sync t-sf #0"][2] or d.outputs["sync t-sf #0"][2] != ""


def test_no_secret_in_state_csv_or_what_was_written_to_the_sources(
    deployment: Deployment,
) -> None:
    d = deployment
    blobs: dict[str, bytes] = {p.name: p.read_bytes() for p in (d.dir / "state").iterdir()}
    blobs["leads.csv"] = (d.dir / "mappings" / "leads.csv").read_bytes()
    blobs["salesforce"] = json.dumps(d.sf.records("Lead") + d.sf.records("Task")).encode()
    blobs["sheet"] = json.dumps(d.sheets.grid(SID, "Leads")).encode()
    assert {"t-csv.sqlite", "t-sf.sqlite", "t-sheets.sqlite"} <= set(blobs)
    for name, data in blobs.items():
        for secret in d.secrets:
            assert secret.encode() not in data, (name, secret)
    csv_text = blobs["leads.csv"].decode()
    assert "completed" in csv_text or "errored" in csv_text  # results were written there


def test_no_secret_in_the_cassettes(deployment: Deployment) -> None:
    files = sorted(CASSETTES.glob("*.yaml"))
    assert files
    for path in files:
        text = path.read_text()
        for secret in deployment.secrets + RECORDING_SECRETS:
            assert secret not in text, (path.name, secret)
        assert "REDACTED" in text


def test_state_is_json_never_pickle(deployment: Deployment) -> None:
    for team in TEAMS:
        path = deployment.dir / "state" / f"{team}.sqlite"
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            rows = db.execute('SELECT key, value FROM "state"').fetchall()
        assert len(rows) > 5
        for key, value in rows:
            raw = value if isinstance(value, bytes) else str(value).encode()
            assert not raw.startswith(b"\x80"), (team, key)  # a pickle header
            assert b"\x80\x04" not in raw and b"\x80\x05" not in raw, (team, key)
            json.loads(raw)  # every value is JSON text


def test_state_file_modes(deployment: Deployment) -> None:
    state = deployment.dir / "state"
    assert state.stat().st_mode & 0o777 == 0o700
    files = list(state.iterdir())
    assert files
    for path in files:
        assert path.stat().st_mode & 0o777 == 0o600, path.name
