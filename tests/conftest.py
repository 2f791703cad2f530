"""Shared fixtures: a Revox sandbox on loopback and team folders made from a template."""

from __future__ import annotations

import csv
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from connector.sandbox import Sandbox

API_KEY = "test-key-1234567890"
ASSISTANT = "182bd5e5-6e1a-4fe4-a799-aa6d9a6ab26e"


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(API_KEY, speed=1.0) as sb:
        yield sb


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def mapping_yaml(
    team: str = "t1",
    *,
    csv_name: str = "leads.csv",
    extra: str = "",
    max_contacts: int = 500,
    campaign_extra: str = "",
) -> str:
    campaign_extra = campaign_extra.replace("\n", "\n        ")  # survives the dedent
    return (
        textwrap.dedent(f"""\
        team: {team}
        source:
          type: csv
          path: {csv_name}
          key_column: Revox ID
        contacts:
          phone: Phone
          default_region: FR
          prompt_variables:
            first_name: Name
        campaign:
          assistant_id: {ASSISTANT}
          max_contacts: {max_contacts}
        {campaign_extra}
        write_back:
          columns:
            status: Revox status
            campaign: Revox campaign
            outcome: Outcome
            summary: Call summary
            attempts: Attempts
            error: Revox error
          structured_output: {{email: Email}}
        """)
        + extra
    )


def make_team(tmp: Path, rows: list[list[str]], **kw: object) -> Path:
    """A folder with leads.csv (Name, Phone) and t1.yaml; returns the mapping path."""
    write_csv(tmp / "leads.csv", ["Name", "Phone"], rows)
    path = tmp / "t1.yaml"
    path.write_text(mapping_yaml(**kw))  # type: ignore[arg-type]
    return path
