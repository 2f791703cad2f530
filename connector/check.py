"""`revox-sync check`: every problem it can find, each found on its own.

Why not stop at the first error: an operator runs `check` to get a list to work through.
A missing REVOX_API_KEY or an unreachable Revox says nothing about the CSV's columns, so
each step (mappings, Revox key, each source and its columns, each assistant) runs whatever
the others found, and every problem is one line; those that come from a mapping field
start with ``MAPPING.yaml:LINE: field.path:``.

Exit code: 2 when any problem is a configuration one, else 3 when any is an
authentication one, else 1 when anything else failed (Revox unreachable), else 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from connector.config import LoadedMapping
from connector.errors import AuthError, ConfigError, ConnectorError
from connector.loading import load_each, mapping_files
from connector.mapping import resolve
from connector.revox import DEFAULT_BASE_URL, RevoxClient
from connector.runtime import revox_client
from connector.sources import open_source


@dataclass
class Report:
    """What `check` found: lines that passed, and problems by kind."""

    ok: list[str] = field(default_factory=list)
    config: list[str] = field(default_factory=list)
    auth: list[str] = field(default_factory=list)
    other: list[str] = field(default_factory=list)

    def add(self, exc: BaseException, prefix: str = "") -> None:
        """File an exception under its kind (a bug is named by its type, not a traceback)."""
        if isinstance(exc, ConfigError):
            self.config += [prefix + p for p in exc.problems]
        elif isinstance(exc, AuthError):
            self.auth.append(prefix + str(exc))
        elif isinstance(exc, ConnectorError):
            self.other.append(prefix + str(exc))
        else:
            self.other.append(f"{prefix}{type(exc).__name__}: {exc}")

    def lines(self) -> list[str]:
        """Every problem, as printed on stderr."""
        return (
            [f"config error: {p}" for p in self.config]
            + [f"auth error: {p}" for p in self.auth]
            + [f"error: {p}" for p in self.other]
        )

    @property
    def exit_code(self) -> int:
        return 2 if self.config else 3 if self.auth else 1 if self.other else 0


def check(
    mappings: Path, env: Mapping[str, str], team: str | None, data_dir: Path | None = None
) -> Report:
    """Run every check; never raises for a problem it can describe."""
    report = Report()
    chosen = _mappings(mappings, team, data_dir, report)
    revox = _revox(env, report)
    try:
        for loaded in chosen:
            _source(loaded, env, report)
            if revox is not None:
                _assistant(loaded, revox, report)
    finally:
        if revox is not None:
            revox.close()
    return report


def _mappings(
    where: Path, team: str | None, data_dir: Path | None, report: Report
) -> list[LoadedMapping]:
    try:
        good, failed = load_each(mapping_files(where), data_dir)
    except ConfigError as exc:
        report.add(exc)
        return []
    chosen = [m for m in good if team in (None, m.mapping.team)]
    if team is None or not chosen:  # a named team's check ignores the other files
        report.config += [p for problems in failed.values() for p in problems]
    if team is not None and not chosen and not failed:
        teams = ", ".join(m.mapping.team for m in good) or "none"
        report.config.append(f"{where}: no mapping for team {team!r} (teams found: {teams})")
    for m in chosen:
        report.ok.append(f"{m.mapping.team}: mapping {m.path} ok")
    return chosen


def _revox(env: Mapping[str, str], report: Report) -> RevoxClient | None:
    """A client whose key Revox accepted, or None (the problem is in the report)."""
    url = env.get("REVOX_BASE_URL") or DEFAULT_BASE_URL
    try:
        client = revox_client(env)
    except ConfigError as exc:  # no key: one problem among the others
        report.add(exc)
        return None
    try:
        if client.auth_status():
            report.ok.append(f"Revox: API key accepted at {url}")
            return client
        report.auth.append(f"Revox at {url} does not accept REVOX_API_KEY (check the key)")
    except Exception as exc:
        report.add(exc)  # the client's messages name the request: "Revox GET /path: ..."
    client.close()
    return None


def _source(loaded: LoadedMapping, env: Mapping[str, str], report: Report) -> None:
    name = loaded.mapping.team
    try:
        source = open_source(loaded, env)
    except Exception as exc:
        report.add(exc, f"{name}: ")
        return
    try:
        headers = source.headers()
        resolve(loaded.mapping, headers, source.describe(), loaded.locate)
        rows = sum(1 for _ in source.read_rows())
        report.ok.append(f"{name}: {rows} row(s) in {source.describe()}, every column found")
    except Exception as exc:
        # ConfigErrors from the mapping carry FILE:LINE: already; others get the team name
        report.add(exc, "" if isinstance(exc, ConfigError) else f"{name}: ")
    finally:
        source.close()


def _assistant(loaded: LoadedMapping, revox: RevoxClient, report: Report) -> None:
    assistant = str(loaded.mapping.campaign.assistant_id)
    try:
        if revox.assistant_exists(assistant):
            report.ok.append(f"{loaded.mapping.team}: assistant {assistant} found")
            return
    except Exception as exc:
        report.add(exc, f"{loaded.locate('campaign', 'assistant_id')}: ")
        return
    report.config.append(
        f"{loaded.locate('campaign', 'assistant_id')}: no such assistant on this account "
        "(copy the id from the Revox dashboard)"
    )
