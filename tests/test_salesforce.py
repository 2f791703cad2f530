"""The Salesforce source against the local emulator, with the real simple-salesforce."""

from __future__ import annotations

import json
import re
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import vcr
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import ValidationError

from adapters.base import CallLog, CallLogger, RowUpdate, Source
from adapters.plugin import SourceContext
from adapters.salesforce import SalesforceSource, SalesforceSourceConfig
from connector.errors import AmbiguousError, AuthError, ConfigError, TransientError
from emulators.salesforce import SalesforceEmulator
from tests.adapter_contract import SourceContract

USER, PASSWORD, TOKEN = "revox@example.com", "pass-word-1", "TOKEN123"
CASSETTES = Path(__file__).parent / "cassettes"
FIELDS = ["Phone", "FirstName", "Country"]
WRITE = ["Revox_Status__c", "Revox_Campaign__c"]


@pytest.fixture
def emu() -> Iterator[SalesforceEmulator]:
    with SalesforceEmulator() as emulator:
        _seed(emulator)
        yield emulator


def _seed(emulator: SalesforceEmulator) -> None:
    emulator.add_field("Lead", "Revox_Status__c")
    emulator.add_field("Lead", "Revox_Campaign__c")
    emulator.add_field("Lead", "Score__c", "double", updateable=False)


def _leads(emulator: SalesforceEmulator, n: int, **extra: Any) -> list[str]:
    rows = [
        {
            "FirstName": f"F{i}",
            "LastName": f"L{i:05d}",
            "Company": "Acme",
            "Phone": f"+1415555{i:04d}",
            **extra,
        }
        for i in range(n)
    ]
    ids: list[str] = emulator.add_records("Lead", rows)
    return ids


def password_env(emulator: SalesforceEmulator) -> dict[str, str]:
    return {
        "SALESFORCE_USERNAME": USER,
        "SALESFORCE_PASSWORD": PASSWORD,
        "SALESFORCE_SECURITY_TOKEN": TOKEN,
        "SALESFORCE_EMULATOR_HOST": emulator.host,
    }


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def source(
    emulator: SalesforceEmulator,
    env: dict[str, str] | None = None,
    *,
    fields: list[str] | None = None,
    write_fields: list[str] | None = None,
    sleep: Sleeps | None = None,
    timeout: float = 5.0,
    **config: Any,
) -> SalesforceSource:
    if "list_view" not in config and "where" not in config:
        config["where"] = "IsConverted = false"
    return SalesforceSource(
        SalesforceSourceConfig(type="salesforce", **config),
        env=env if env is not None else password_env(emulator),
        fields=FIELDS if fields is None else fields,
        write_fields=WRITE if write_fields is None else write_fields,
        timeout=timeout,
        sleep=sleep if sleep is not None else Sleeps(),
    )


def soql_sent(emulator: SalesforceEmulator) -> list[str]:
    return [r.query["q"][0] for r in emulator.calls("GET", r"/query/?$")]


# --- config and auth ---------------------------------------------------------------------


CONTRACT_FIELDS = {  # the contract's columns as Lead fields
    "Name": "LastName",
    "Phone": "Phone",
    "Notes": "Description",
    "Revox status": "Revox_Status__c",
    "Outcome": "Outcome__c",
    "Call summary": "Call_Summary__c",
    "Phone2": "Phone2__c",
}
CONTRACT_COLUMNS = ["Name", "Phone", "Notes", "Revox ID", *list(CONTRACT_FIELDS)[3:]]


class SalesforceHarness:
    """The shared contract over emulated Leads: a source keyed by its own record Ids.

    The contract's columns are Lead fields; the "Revox ID" column of ``table()`` is the Id.
    """

    own_ids = True

    def __init__(self, emu: SalesforceEmulator) -> None:
        self.emu = emu
        for name in ("Outcome__c", "Call_Summary__c", "Phone2__c"):
            emu.add_field("Lead", name)

    def field(self, column: str) -> str:
        return CONTRACT_FIELDS[column]

    def make(self, header: list[str], rows: list[list[str]]) -> Source:
        self.set_table([header, *rows])
        cfg = SalesforceSourceConfig(type="salesforce", where="IsConverted = false")
        reads = ("LastName", "Phone", "Description")
        writes = tuple(CONTRACT_FIELDS[c] for c in CONTRACT_COLUMNS[4:])
        ctx = SourceContext(base_dir=Path(), env=password_env(self.emu), reads=reads, writes=writes)
        return SalesforceSource.from_config(cfg, ctx)

    def table(self) -> list[list[str]]:
        def text(record: dict[str, Any], column: str) -> str:
            value = record["Id"] if column == "Revox ID" else record.get(CONTRACT_FIELDS[column])
            return "" if value is None else str(value)

        rows = [[text(r, c) for c in CONTRACT_COLUMNS] for r in self.emu.records("Lead")]
        return [CONTRACT_COLUMNS, *rows]

    def set_table(self, table: list[list[str]]) -> None:
        """Edit the org as people do: update records by Id, insert new ones, delete the rest."""
        header, kept = table[0], set()
        for row in table[1:]:
            cells = dict(zip(header, row, strict=False))
            values = {
                CONTRACT_FIELDS[c]: v or None for c, v in cells.items() if c in CONTRACT_FIELDS
            }
            record = (
                self.emu.get_record(cells.get("Revox ID", "")) if cells.get("Revox ID") else None
            )
            if record is None:
                kept.update(self.emu.add_records("Lead", [{**values, "Company": "Acme"}]))
            else:
                record.update(values)
                kept.add(record["Id"])
        for record in self.emu.records("Lead"):
            if record["Id"] not in kept:
                self.emu.delete_record(record["Id"])


class TestSalesforceContract(SourceContract):
    @pytest.fixture
    def harness(self, emu: SalesforceEmulator) -> SalesforceHarness:
        return SalesforceHarness(emu)


def test_config_needs_exactly_one_of_list_view_and_where() -> None:
    with pytest.raises(ValidationError, match="exactly one"):
        SalesforceSourceConfig(type="salesforce")
    with pytest.raises(ValidationError, match="exactly one"):
        SalesforceSourceConfig(type="salesforce", list_view="x", where="Id != null")
    with pytest.raises(ValidationError):
        SalesforceSourceConfig(type="salesforce", where="x", password="nope")  # type: ignore[call-arg]
    cfg = SalesforceSourceConfig(
        type="salesforce", where="x", domain="https://acme.my.salesforce.com"
    )
    assert cfg.domain == "acme.my"


def test_password_and_token_login_over_soap(emu: SalesforceEmulator) -> None:
    _leads(emu, 3)
    src = source(emu)
    assert isinstance(src, Source) and isinstance(src, CallLogger)
    assert src.key_column is None
    rows = list(src.read_rows())
    assert [r.values["Phone"] for r in rows] == ["+14155550000", "+14155550001", "+14155550002"]
    login = emu.calls("POST", r"^/services/Soap/u/59\.0$")
    assert len(login) == 1 and login[0].headers["soapaction"] == "login"
    assert all(r.key == r.values["Id"] and len(r.key) == 18 for r in rows)
    assert src.describe() == "salesforce:Lead/where"
    src.close()


def test_jwt_bearer_login_with_a_key_made_now(emu: SalesforceEmulator, tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    emu.register_public_key("3MVG9-emulator-key", public)
    (tmp_path / "sf.pem").write_bytes(pem)
    _leads(emu, 2)
    env = {
        "SALESFORCE_USERNAME": USER,
        "SALESFORCE_CONSUMER_KEY": "3MVG9-emulator-key",
        "SALESFORCE_PRIVATE_KEY_FILE": str(tmp_path / "sf.pem"),
        "SALESFORCE_EMULATOR_HOST": emu.host,
    }
    assert len(list(source(emu, env).read_rows())) == 2
    token = emu.calls("POST", r"^/services/oauth2/token$")
    assert len(token) == 1
    assert b"grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer" in token[0].body

    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (tmp_path / "other.pem").write_bytes(
        other.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(AuthError, match="invalid_grant"):
        source(emu, env | {"SALESFORCE_PRIVATE_KEY_FILE": str(tmp_path / "other.pem")}).headers()
    (tmp_path / "bad.pem").write_text("not a key")
    with pytest.raises(ConfigError, match="SALESFORCE_PRIVATE_KEY_FILE"):
        source(emu, env | {"SALESFORCE_PRIVATE_KEY_FILE": str(tmp_path / "bad.pem")}).headers()


def test_session_id_mode_makes_no_login(emu: SalesforceEmulator) -> None:
    _leads(emu, 1)
    env = {
        "SALESFORCE_SESSION_ID": emu.new_session(),
        "SALESFORCE_INSTANCE_URL": emu.instance_url,
        "SALESFORCE_EMULATOR_HOST": emu.host,
    }
    assert len(list(source(emu, env).read_rows())) == 1
    assert emu.logins == 0


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({}, ["SALESFORCE_USERNAME", "SALESFORCE_PRIVATE_KEY_FILE", "SALESFORCE_SESSION_ID"]),
        ({"SALESFORCE_USERNAME": "u", "SALESFORCE_PASSWORD": "p"}, ["SALESFORCE_SECURITY_TOKEN"]),
        ({"SALESFORCE_CONSUMER_KEY": "k"}, ["SALESFORCE_USERNAME", "SALESFORCE_PRIVATE_KEY_FILE"]),
        ({"SALESFORCE_SESSION_ID": "00D!x"}, ["SALESFORCE_INSTANCE_URL"]),
    ],
)
def test_missing_credentials_name_the_variables(env: dict[str, str], named: list[str]) -> None:
    cfg = SalesforceSourceConfig(type="salesforce", where="Id != null")
    with pytest.raises(ConfigError) as info:
        SalesforceSource(cfg, env=env, fields=[], write_fields=[])
    for name in named:
        assert name in str(info.value)
    assert "00D!x" not in str(info.value)


def test_refused_login_is_auth_error_without_secrets(emu: SalesforceEmulator) -> None:
    env = password_env(emu) | {"SALESFORCE_PASSWORD": "wrong-password-9"}
    with pytest.raises(AuthError, match="INVALID_LOGIN") as info:
        source(emu, env).headers()
    assert "wrong-password-9" not in str(info.value) and TOKEN not in str(info.value)


def test_login_endpoint_down_is_transient(emu: SalesforceEmulator) -> None:
    emu.add_fault("POST", r"/services/Soap/", "status", status=503, body="<html>down</html>")
    with pytest.raises(TransientError, match="503"):
        source(emu).headers()


def test_unknown_object_and_garbled_answers(emu: SalesforceEmulator) -> None:
    with pytest.raises(ConfigError, match="no object 'Lede'"):
        source(emu, object="Lede").headers()
    emu.add_fault("GET", r"describe", "status", status=200, body="{not json")
    with pytest.raises(TransientError, match="not JSON"):
        source(emu).headers()


# --- reading -------------------------------------------------------------------------------


def test_list_view_by_developer_name_extends_its_query(emu: SalesforceEmulator) -> None:
    ids = _leads(emu, 4)
    emu.add_records("Lead", [{"LastName": "Z", "Company": "Other", "Phone": "+1"}])
    emu.add_list_view(
        "Lead", "Acme_Leads", where="Company = 'Acme'", order_by="Phone DESC NULLS LAST"
    )
    src = source(emu, list_view="Acme_Leads", fields=["Phone", "Status", "Owner.Alias", "Country"])
    rows = list(src.read_rows())
    assert [r.key for r in rows] == list(reversed(ids))
    (soql,) = soql_sent(emu)
    assert soql.startswith("SELECT Name, Company, Phone, toLabel(Status), Owner.Alias, Id,")
    assert soql.endswith(
        ", OwnerId, Country FROM Lead WHERE Company = 'Acme' "
        "ORDER BY Phone DESC NULLS LAST, Id ASC NULLS FIRST"
    )
    assert rows[0].values["Owner.Alias"] == "emu" and "Owner" not in rows[0].values
    assert rows[0].values["Status"] == "Open - Not Contacted" and rows[0].values["Country"] == ""
    headers = emu.calls("GET", r"/query/")
    assert all(r.headers["sforce-query-options"] == "batchSize=2000" for r in headers)
    assert src.describe() == "salesforce:Lead/Acme_Leads"


@pytest.mark.parametrize("length", [15, 18])
def test_list_view_by_id(emu: SalesforceEmulator, length: int) -> None:
    _leads(emu, 2)
    lv_id = emu.add_list_view("Lead", "All_Leads")
    assert len(list(source(emu, list_view=lv_id[:length]).read_rows())) == 2
    assert emu.calls("GET", rf"listviews/{lv_id}/describe$")


def test_unknown_list_view_lists_the_ones_found(emu: SalesforceEmulator) -> None:
    emu.add_list_view("Lead", "All_Leads")
    with pytest.raises(ConfigError, match=r"no list view 'Nope'.*All_Leads"):
        list(source(emu, list_view="Nope").read_rows())


def test_where_clause_and_value_text(emu: SalesforceEmulator) -> None:
    emu.add_field("Lead", "Consent__c", "boolean")
    emu.add_records(
        "Lead",
        [
            {"LastName": "A", "Company": "C", "Phone": None, "NumberOfEmployees": 12,
             "AnnualRevenue": 1500.0, "Consent__c": True, "Country": "FR"},
            {"LastName": "B", "Company": "C", "AnnualRevenue": 12.5, "Consent__c": False,
             "Country": "DE"},
        ],
    )  # fmt: skip
    fields = ["Phone", "NumberOfEmployees", "AnnualRevenue", "Consent__c", "country"]
    src = source(emu, where="Country IN ('FR', 'DE') AND (Company LIKE 'c%')", fields=fields)
    a, b = src.read_rows()
    assert soql_sent(emu) == [
        "SELECT Id, Phone, NumberOfEmployees, AnnualRevenue, Consent__c, country FROM Lead "
        "WHERE Country IN ('FR', 'DE') AND (Company LIKE 'c%')"
    ]
    assert (a.values["Phone"], a.values["NumberOfEmployees"]) == ("", "12")
    assert (a.values["AnnualRevenue"], b.values["AnnualRevenue"]) == ("1500", "12.5")
    assert (a.values["Consent__c"], b.values["Consent__c"]) == ("true", "false")
    assert a.values["country"] == a.values["Country"] == "FR"
    assert "attributes" not in a.values


def test_query_answers_orjson_refuses_are_read_by_the_library(emu: SalesforceEmulator) -> None:
    """Query pages are decoded with orjson; an answer it refuses (NaN here) is decoded as
    simple-salesforce would, not lost or turned into an error. The largest number a
    Salesforce field holds (18 digits) reads exactly either way."""
    emu.add_records("Lead", [{"LastName": "A", "Company": "C", "Phone": "+33612345678"}])
    src = source(emu, fields=["Phone", "NumberOfEmployees"])
    (row,) = src.read_rows()
    record = {"attributes": {"type": "Lead"}, "Id": row.key, "Phone": "+33612345678"}
    for odd, text in (("NaN", "nan"), ("999999999999999999", "999999999999999999")):
        body = json.dumps({"totalSize": 1, "done": True, "records": [record]})
        body = body.replace('"Phone"', f'"NumberOfEmployees": {odd}, "Phone"')
        emu.add_fault("GET", r"/query", "status", status=200, body=body, times=1)
        (again,) = src.read_rows()
        assert again.key == row.key and again.values["NumberOfEmployees"] == text
        assert again.values["Phone"] == row.values["Phone"]


def test_paging_across_pages_is_streamed(emu: SalesforceEmulator) -> None:
    emu.max_batch_size = 4
    ids = _leads(emu, 10)
    src = source(emu, where="Company = 'Acme'")
    rows = src.read_rows()
    first = next(rows)
    assert len(emu.calls("GET", r"/query")) == 1  # lazily: one page so far
    keys = [first.key] + [r.key for r in rows]
    assert sorted(k or "" for k in keys) == sorted(ids)
    pages = emu.calls("GET", r"/query")
    assert len(pages) == 3 and pages[1].path.endswith("-4") and pages[2].path.endswith("-8")


def test_missing_and_read_only_fields_are_config_errors(emu: SalesforceEmulator) -> None:
    src = source(emu, fields=["Phone", "Phon", "Foo__c"], write_fields=["Score__c", "Missing__c"])
    with pytest.raises(ConfigError) as info:
        src.headers()
    text = str(info.value)
    assert "'Phon' (did you mean Phone?)" in text and "'Foo__c'" in text
    assert "Score__c is not updateable" in text and "'Missing__c'" in text
    assert len(info.value.problems) == 4
    with pytest.raises(ConfigError):
        list(src.read_rows())  # nothing is read with a wrong mapping
    assert not emu.calls("GET", r"/query")
    ok = source(emu)
    assert {"Id", "Phone", "Revox_Status__c"} <= set(ok.headers())
    ok.headers()
    assert len(emu.calls("GET", r"describe$")) == 3  # a failed check is redone, a good one kept


def test_bad_where_is_a_config_error(emu: SalesforceEmulator) -> None:
    with pytest.raises(ConfigError, match="MALFORMED_QUERY"):
        list(source(emu, where="Company = ").read_rows())


# --- writing -------------------------------------------------------------------------------


def test_write_back_450_records_in_3_requests(emu: SalesforceEmulator) -> None:
    ids = _leads(emu, 450)
    src = source(emu)
    src.headers()
    updates = [RowUpdate(k, {"Revox_Status__c": "submitted", "Revox_Campaign__c": ""}) for k in ids]
    report = src.write_back(updates)
    assert report.written == set(ids) and not report.failed and not report.missing
    assert report.requests == 3
    patches = emu.calls("PATCH", r"/composite/sobjects$")
    assert [len(p.json()["records"]) for p in patches] == [200, 200, 50]
    body = patches[0].json()
    assert body["allOrNone"] is False
    assert body["records"][0] == {
        "attributes": {"type": "Lead"},
        "id": ids[0],
        "Revox_Status__c": "submitted",
        "Revox_Campaign__c": None,
    }
    assert emu.get_record(ids[449])["Revox_Status__c"] == "submitted"  # type: ignore[index]


def test_partial_failures_are_kept_per_record(emu: SalesforceEmulator) -> None:
    locked, deleted, fine = _leads(emu, 3)
    emu.delete_record(deleted)
    emu.add_fault("PATCH", "composite/sobjects", "record_error", record_id=locked, times=None)
    src = source(emu)
    updates = [RowUpdate(k, {"Revox_Status__c": "done"}) for k in (locked, deleted, fine)]
    updates.append(RowUpdate("00Q000000000000", {"Revox_Status__c": "x"}))
    report = src.write_back(updates)
    assert report.written == {fine}
    assert report.missing == {deleted, "00Q000000000000"}
    assert report.failed[locked].startswith("UNABLE_TO_LOCK_ROW: unable to obtain exclusive")


def test_a_summary_longer_than_its_field_is_cut_not_refused(emu: SalesforceEmulator) -> None:
    """Salesforce refuses 256 characters in a Text(255) field (STRING_TOO_LONG) for good:
    the value is cut to the length from the describe, with a visible marker."""
    (lead,) = _leads(emu, 1)
    src = source(emu)
    long = "Interested; " + "x" * 400
    report = src.write_back([RowUpdate(lead, {"Revox_Status__c": long})])
    assert report.written == {lead} and not report.failed
    stored = emu.get_record(lead)["Revox_Status__c"]  # type: ignore[index]
    assert len(stored) == 255 and stored.startswith("Interested; ") and stored.endswith("[cut]")
    # what was sent is the cut value (the emulator answers STRING_TOO_LONG past 255)
    raw = emu.calls("PATCH", r"/composite/sobjects$")[-1].json()["records"][0]
    assert len(raw["Revox_Status__c"]) == 255


def test_unknown_write_field_is_a_config_error(emu: SalesforceEmulator) -> None:
    (lead,) = _leads(emu, 1)
    with pytest.raises(ConfigError, match="Nope__c"):
        source(emu).write_back([RowUpdate(lead, {"Nope__c": "x"})])
    assert not emu.calls("PATCH")


# --- faults and limits ---------------------------------------------------------------------


def test_expired_session_logs_in_again_once(emu: SalesforceEmulator) -> None:
    _leads(emu, 2)
    src = source(emu)
    src.headers()
    emu.add_fault("GET", r"/query", "expire_session")
    assert len(list(src.read_rows())) == 2
    assert emu.logins == 2


def test_session_that_keeps_expiring_is_auth_error_after_one_relogin(
    emu: SalesforceEmulator,
) -> None:
    (lead,) = _leads(emu, 1)
    src = source(emu)
    src.headers()
    emu.add_fault("PATCH", r"composite", "expire_session", times=None)
    with pytest.raises(AuthError, match="INVALID_SESSION_ID"):
        src.write_back([RowUpdate(lead, {"Revox_Status__c": "x"})])
    assert emu.logins == 2 and len(emu.calls("PATCH")) == 2


def test_expired_session_id_from_env_is_auth_error(emu: SalesforceEmulator) -> None:
    env = {
        "SALESFORCE_SESSION_ID": "00D5g00000EMUL8!stale-session",
        "SALESFORCE_INSTANCE_URL": emu.instance_url,
        "SALESFORCE_EMULATOR_HOST": emu.host,
    }
    with pytest.raises(AuthError) as info:
        source(emu, env).headers()
    assert "stale-session" not in str(info.value) and emu.logins == 0


def test_request_limit_exceeded_is_transient_after_two_retries(emu: SalesforceEmulator) -> None:
    sleeps = Sleeps()
    src = source(emu, sleep=sleeps)
    emu.add_fault(
        "GET", r"describe", "status", status=403, error_code="REQUEST_LIMIT_EXCEEDED", times=None
    )
    with pytest.raises(TransientError, match="REQUEST_LIMIT_EXCEEDED"):
        src.headers()
    assert sleeps == [1.0, 2.0] and len(emu.calls("GET", "describe")) == 3


def test_5xx_then_success_is_retried(emu: SalesforceEmulator) -> None:
    sleeps = Sleeps()
    _leads(emu, 1)
    emu.add_fault("GET", r"/query", "status", status=503, times=2)
    assert len(list(source(emu, sleep=sleeps).read_rows())) == 1
    assert sleeps == [1.0, 2.0]


def test_timeouts_and_resets_on_reads_are_retried_twice(emu: SalesforceEmulator) -> None:
    _leads(emu, 1)
    src = source(emu, timeout=0.3)
    emu.add_fault("GET", r"describe", "timeout", delay=0.6)
    assert "Phone" in src.headers()
    emu.add_fault("GET", r"/query", "reset", times=None)
    with pytest.raises(TransientError, match="ConnectionError"):
        list(src.read_rows())
    assert len(emu.calls("GET", r"/query")) == 3


def test_daily_api_floor_stops_early(emu: SalesforceEmulator) -> None:
    emu.api_max, emu.api_used = 1000, 600
    src = source(emu, min_remaining_requests=500)
    src.headers()
    assert src.api_usage == (601, 1000)
    with pytest.raises(TransientError, match="601 of 1000"):
        list(src.read_rows())
    assert len(emu.calls("GET", r"/services/data/")) == 1


# --- Tasks ---------------------------------------------------------------------------------


def _calls(keys: list[str]) -> list[CallLog]:
    return [
        CallLog(
            call_id=f"call-{i}",
            key=k,
            subject="Revox call",
            outcome="No answer" if i % 2 else "Connected",
            summary=f"Summary {i}",
            ended_at="2025-01-31T23:10:00+00:00",
            duration_seconds=40 + i if i % 3 else None,
        )
        for i, k in enumerate(keys)
    ]


def test_log_calls_creates_each_task_once(emu: SalesforceEmulator) -> None:
    keys = _leads(emu, 5)
    src = source(emu)
    calls = _calls(keys)
    report = src.log_calls([*calls, calls[0]])
    assert report.written == {c.call_id for c in calls} and not report.failed
    tasks = emu.records("Task")
    assert len(tasks) == 5
    task = next(t for t in tasks if t["CallObject"] == "call-1")
    assert {k: task[k] for k in ("WhoId", "Status", "TaskSubtype", "CallType", "IsClosed")} == {
        "WhoId": keys[1], "Status": "Completed", "TaskSubtype": "Call",
        "CallType": "Outbound", "IsClosed": True,
    }  # fmt: skip
    assert (task["ActivityDate"], task["CallDurationInSeconds"]) == ("2025-01-31", 41)
    assert (task["CallDisposition"], task["Description"]) == ("No answer", "Summary 1")
    assert len(emu.calls("POST", r"composite/sobjects$")) == 1

    again = src.log_calls(calls)  # the crash case: the same calls sent again
    assert again.written == report.written and len(emu.records("Task")) == 5
    assert len(emu.calls("POST", r"composite/sobjects$")) == 1
    assert again.requests == 1  # one queryAll, no create


def test_log_calls_reconciles_a_create_that_may_have_been_applied(emu: SalesforceEmulator) -> None:
    keys = _leads(emu, 3)
    emu.delete_record(keys[2])
    src = source(emu, timeout=0.3)
    emu.add_fault("POST", r"composite/sobjects", "reset", apply=True)
    report = src.log_calls(_calls(keys))
    assert report.written == {"call-0", "call-1"} and report.missing == {"call-2"}
    assert len(emu.records("Task")) == 2
    assert len(emu.calls("POST", r"composite/sobjects$")) == 2  # the retry sent only call-2


def test_log_calls_create_errors_are_reported(emu: SalesforceEmulator) -> None:
    keys = _leads(emu, 2)
    emu.add_fault(
        "POST",
        "composite",
        "record_error",
        record_id="call-1",
        status_code="FIELD_CUSTOM_VALIDATION_EXCEPTION",
        message="no",
    )
    report = source(emu).log_calls(_calls(keys))
    assert report.written == {"call-0"}
    assert report.failed == {"call-1": "FIELD_CUSTOM_VALIDATION_EXCEPTION: no"}


def test_log_calls_post_without_answer_stays_ambiguous(emu: SalesforceEmulator) -> None:
    keys = _leads(emu, 1)
    emu.add_fault("POST", r"composite/sobjects", "reset", times=None)
    with pytest.raises(AmbiguousError):
        source(emu).log_calls(_calls(keys))
    assert len(emu.calls("POST", r"composite/sobjects$")) == 3


# --- scale ---------------------------------------------------------------------------------


def test_ten_thousand_leads_streamed_and_written_in_50_requests(emu: SalesforceEmulator) -> None:
    _leads(emu, 10_000)
    emu.add_list_view("Lead", "Campaign_Leads", where="Company = 'Acme'")
    src = source(emu, list_view="Campaign_Leads")
    src.headers()
    tracemalloc.start()
    keys: list[str] = []
    for row in src.read_rows():
        keys.append(row.key or "")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(keys) == 10_000 and len(set(keys)) == 10_000
    assert len(emu.calls("GET", r"/query")) == 5
    # Holding every row would take well over this; one 2,000-record page (both the
    # emulator's JSON and the client's parse, in this one process) fits under it.
    assert peak < 40_000_000, peak
    report = src.write_back([RowUpdate(k, {"Revox_Status__c": "queued"}) for k in keys])
    assert len(report.written) == 10_000 and report.requests == 50
    assert len(emu.calls("PATCH", r"/composite/sobjects$")) == 50
    print(f"10k read: peak {peak / 1e6:.1f} MB; requests {src.requests}")


# --- recorded cassette ---------------------------------------------------------------------

CASSETTE_PORT = 48765


def _scrub_request(request: Any) -> Any:
    if "/services/Soap/" in request.path:
        request.body = b"<login envelope removed>"
    return request


def _scrub_response(response: dict[str, Any]) -> dict[str, Any]:
    body = response["body"]["string"]
    if isinstance(body, bytes) and b"<sessionId>" in body:
        response["body"]["string"] = re.sub(
            rb"<sessionId>[^<]*</sessionId>", b"<sessionId>REDACTED</sessionId>", body
        )
    return response


def _vcr(mode: str) -> vcr.VCR:
    return vcr.VCR(
        cassette_library_dir=str(CASSETTES),
        record_mode=mode,
        match_on=["method", "scheme", "host", "port", "path", "query"],
        filter_headers=[("authorization", "REDACTED")],
        before_record_request=_scrub_request,
        before_record_response=_scrub_response,
        decode_compressed_response=True,
    )


def _tick() -> tuple[list[str], Any]:
    env = {
        "SALESFORCE_USERNAME": USER,
        "SALESFORCE_PASSWORD": PASSWORD,
        "SALESFORCE_SECURITY_TOKEN": TOKEN,
        "SALESFORCE_EMULATOR_HOST": f"127.0.0.1:{CASSETTE_PORT}",
    }
    src = SalesforceSource(
        SalesforceSourceConfig(type="salesforce", list_view="Tick_Leads"),
        env=env,
        fields=FIELDS,
        write_fields=WRITE,
        timeout=5.0,
    )
    src.headers()
    rows = list(src.read_rows())
    report = src.write_back([RowUpdate(r.key or "", {"Revox_Status__c": "queued"}) for r in rows])
    return [r.values["Phone"] for r in rows], report


def test_cassette_replays_a_tick_without_the_emulator() -> None:
    cassette = CASSETTES / "salesforce_tick.yaml"
    if not cassette.exists():  # delete the file to record again against the emulator
        with SalesforceEmulator(port=CASSETTE_PORT) as recorder:
            _seed(recorder)
            _leads(recorder, 3)
            recorder.add_list_view("Lead", "Tick_Leads")
            with _vcr("all").use_cassette(cassette.name):
                _tick()
    with _vcr("none").use_cassette(cassette.name) as played:
        phones, report = _tick()
    assert phones == ["+14155550000", "+14155550001", "+14155550002"]
    assert len(report.written) == 3 and report.requests == 1
    assert played.all_played
    text = cassette.read_text()
    for secret in (PASSWORD, TOKEN, "!AQ"):
        assert secret not in text
    assert "REDACTED" in text
    assert json.dumps("Tick_Leads")[1:-1] in text


# --- the emulator itself, through simple-salesforce directly -------------------------------


def _sf(emulator: SalesforceEmulator, **login: Any) -> Any:
    import requests
    from simple_salesforce.api import Salesforce

    class Redirect(requests.Session):
        def request(self, method: Any, url: Any, *args: Any, **kwargs: Any) -> Any:
            parts = url.split("/", 3)
            url = f"http://{emulator.host}/{parts[3] if len(parts) > 3 else ''}"
            return super().request(method, url, *args, **kwargs)

    return Salesforce(session=Redirect(), object_pairs_hook=dict, **login)


def test_emulator_rows_oauth_password_grant_and_limits(emu: SalesforceEmulator) -> None:
    sf = _sf(
        emu,
        username=USER,
        password=PASSWORD + TOKEN,
        consumer_key="3MVG9-emulator-key",
        consumer_secret="emulator-secret",
    )
    created = sf.Lead.create({"LastName": "Solo", "Company": "Acme"})
    assert created["success"] and created["id"].startswith("00Q")
    assert sf.Lead.update(created["id"], {"Phone": "+33612345678"}) == 204
    assert sf.Lead.get(created["id"])["Phone"] == "+33612345678"
    with pytest.raises(Exception, match="REQUIRED_FIELD_MISSING"):
        sf.Lead.create({"LastName": "NoCompany"})
    limits = sf.limits()["DailyApiRequests"]
    assert limits["Max"] == 15000 and sf.api_usage["api-usage"].used == emu.api_used
    lv = emu.add_list_view("Lead", "All_Leads")
    page = sf.restful(f"sobjects/Lead/listviews/{lv}/results", params={"limit": 5})
    assert page["size"] == 1
    cells = {c["fieldNameOrPath"]: c["value"] for c in page["records"][0]["columns"]}
    assert cells["Name"] == "Solo" and cells["Owner.Alias"] == "emu"


def test_emulator_soql_subset(emu: SalesforceEmulator) -> None:
    emu.add_records(
        "Lead",
        [
            {"LastName": "a", "Company": "X", "City": "Paris", "NumberOfEmployees": 5},
            {"LastName": "b", "Company": "Y", "City": None, "NumberOfEmployees": 50},
            {"LastName": "c", "Company": "X", "City": "Lyon", "NumberOfEmployees": 500},
            {"LastName": "d", "Company": "Z", "City": "Nice", "NumberOfEmployees": None},
        ],
    )
    sf = _sf(emu, username=USER, password=PASSWORD, security_token=TOKEN)

    def names(soql: str) -> list[str]:
        return [r["LastName"] for r in sf.query_all(soql)["records"]]

    assert names("SELECT LastName FROM Lead ORDER BY City ASC NULLS LAST") == ["c", "d", "a", "b"]
    assert names("SELECT LastName FROM Lead ORDER BY City DESC NULLS FIRST LIMIT 2") == ["b", "a"]
    assert names(
        "select lastname from lead where (company = 'x' or city like 'NI%') "
        "and not NumberOfEmployees > 100 order by lastname desc"
    ) == ["d", "a"]
    assert names("SELECT LastName FROM Lead WHERE City != null AND Company NOT IN ('Z')") == [
        "a",
        "c",
    ]
    for bad, code in [
        ("SELECT Nope FROM Lead", "INVALID_FIELD"),
        ("SELECT Id, id FROM Lead", "MALFORMED_QUERY"),
        ("SELECT Id FROM Nope", "INVALID_TYPE"),
        ("SELECT Id FROM Lead WHERE", "MALFORMED_QUERY"),
    ]:
        with pytest.raises(Exception, match=code):
            sf.query(bad)


def test_emulator_collections_all_or_none_and_size_limit(emu: SalesforceEmulator) -> None:
    ok, gone = _leads(emu, 2)
    emu.delete_record(gone)
    sf = _sf(emu, username=USER, password=PASSWORD, security_token=TOKEN)
    records = [
        {"attributes": {"type": "Lead"}, "id": i, "Revox_Status__c": "x"} for i in (ok, gone)
    ]
    body = {"allOrNone": True, "records": records}
    results = sf.restful("composite/sobjects", method="PATCH", json=body)
    codes = [r["errors"][0]["statusCode"] for r in results]
    assert codes == ["ALL_OR_NONE_OPERATION_ROLLED_BACK", "ENTITY_IS_DELETED"]
    assert emu.get_record(ok)["Revox_Status__c"] is None  # type: ignore[index]
    too_many = {"allOrNone": False, "records": records[:1] * 201}
    with pytest.raises(Exception, match="EXCEEDED_ID_LIMIT"):
        sf.restful("composite/sobjects", method="PATCH", json=too_many)
