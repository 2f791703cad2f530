"""The team mapping file: pydantic models, YAML loading with line numbers, and error formatting.

Every problem of every mapping is reported at once, each as
``FILE:LINE: field.path: what is wrong (what to do)``.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union
from uuid import UUID

import yaml
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from adapters import SOURCES, SourceConfigBase, SourceContext, config_models, plugin_for
from connector.errors import ConfigError
from connector.policy import Callbacks, Control, Dedupe, check_zone
from connector.yaml_lines import duplicate_keys, first_alias, line_index

E164 = Annotated[str, Field(pattern=r"^\+[1-9]\d{6,14}$", description="E.164, e.g. +33159000000")]
ResultName = Literal[
    "status",
    "campaign",
    "outcome",
    "summary",
    "result",
    "attempts",
    "last_call_at",
    "recording_url",
    "error",
    "call_id",
    "do_not_call",
]
_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h)\s*$")
_TEAM = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_TIME_24H = re.compile(r"^([01]?\d|2[0-3]):[0-5]\d$")
_TIME_12H = re.compile(r"^(1[0-2]|0?[1-9])(:[0-5]\d)?\s?[ap]m$", re.IGNORECASE)

if TYPE_CHECKING:  # mypy sees the common base; each plug-in narrows it with its own fields
    SourceConfig = SourceConfigBase
else:  # pydantic validates the union of every registered plug-in's block, by `type:`
    SourceConfig = Annotated[Union[config_models()], Field(discriminator="type")]  # noqa: UP007


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Schedule(_Strict):
    every: str | None = Field(None, description="Interval: 30s, 5m, 1h")
    cron: str | None = Field(None, description='Crontab: "*/5 8-19 * * mon-fri"')
    timezone: str = "UTC"

    @field_validator("every")
    @classmethod
    def _every(cls, v: str | None) -> str | None:
        if v is not None and not _DURATION.match(v):
            raise ValueError(f"{v!r} is not a duration (write 30s, 5m or 1h)")
        return v

    @field_validator("cron")
    @classmethod
    def _cron(cls, v: str | None) -> str | None:
        if v is not None:
            from apscheduler.triggers.cron import CronTrigger

            try:
                CronTrigger.from_crontab(v)
            except ValueError as exc:
                raise ValueError(
                    f"{v!r} is not a crontab line ({exc}); "
                    "write 5 fields, e.g. '*/5 8-19 * * mon-fri'"
                ) from exc
        return v

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        return check_zone(v)

    @model_validator(mode="after")
    def _one(self) -> Schedule:
        if (self.every is None) == (self.cron is None):
            raise ValueError("give exactly one of 'every' or 'cron'")
        return self

    def seconds(self) -> int | None:
        """The interval in seconds, or None for a cron schedule."""
        if self.every is None:
            return None
        m = _DURATION.match(self.every)
        assert m is not None
        return int(m.group(1)) * {"s": 1, "m": 60, "h": 3600}[m.group(2)]


class VariableSpec(_Strict):
    column: str | None = None
    value: str | None = None
    template: str | None = None
    required: bool = False

    @model_validator(mode="after")
    def _one(self) -> VariableSpec:
        given = [k for k in ("column", "value", "template") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of 'column', 'value' or 'template'")
        return self


class Contacts(_Strict):
    phone: str = Field(description="Header of the phone column")
    default_region: str | None = Field(None, description="ISO 3166 region, e.g. FR")
    country_column: str | None = None
    include_when: dict[str, list[str]] = Field(default_factory=dict)
    skip_when: dict[str, list[str]] = Field(default_factory=dict)
    prompt_variables: dict[str, str | VariableSpec] = Field(default_factory=dict)
    extensions: Literal["reject", "call_main_number"] = Field(
        "reject",
        description="A number with an extension (ext. 12, x12): reject the row (default), "
        "or call the main number without the extension",
    )
    dedupe: Dedupe | None = Field(
        None, description="A number submitted once is a duplicate for this long (default: forever)"
    )

    @field_validator("default_region")
    @classmethod
    def _region(cls, v: str | None) -> str | None:
        import phonenumbers

        if v is None:
            return v
        if v.upper() not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"{v!r} is not an ISO 3166 region code (write FR, US, GB, ...)")
        return v.upper()

    def variables(self) -> dict[str, VariableSpec]:
        """Every prompt variable as a VariableSpec (a bare string is a column)."""
        return {
            name: VariableSpec(column=spec) if isinstance(spec, str) else spec
            for name, spec in self.prompt_variables.items()
        }


class CallingWindow(_Strict):
    """One calling window of the API's call_retry_config: all three keys are required."""

    calling_window_start_time: str = Field(description="'09:00' (24-hour) or '9am'")
    calling_window_end_time: str = Field(description="'18:00' (24-hour) or '6pm'")
    retry_delay_seconds: int = Field(
        gt=0, description="seconds between attempts inside this window (the seed API refuses 0)"
    )

    @field_validator("calling_window_start_time", "calling_window_end_time")
    @classmethod
    def _time(cls, v: str) -> str:
        if not (_TIME_24H.match(v) or _TIME_12H.match(v)):
            raise ValueError(f"{v!r} is not a time (write '09:00' or '9am')")
        return v


class CallRetryConfig(_Strict):
    """The API's call_retry_config, key for key: sent exactly as written."""

    allowed_days: list[
        Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
    ]
    call_twice_in_a_row: bool
    calling_windows: list[CallingWindow]
    max_retry_attempts: int = Field(gt=0)
    timezone: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _moved(cls, data: Any) -> Any:
        # the first release took retry_delay_seconds at the top level, which the API refuses
        if isinstance(data, dict) and "retry_delay_seconds" in data:
            raise ValueError(
                "retry_delay_seconds moved into each calling window: write it under "
                "calling_windows (- calling_window_start_time: '09:00', "
                "calling_window_end_time: '18:00', retry_delay_seconds: 7200)"
            )
        return data


class CampaignSettings(_Strict):
    assistant_id: UUID
    name: str = Field("{team} {date} #{batch}", min_length=1)
    launch: bool = True
    max_contacts: int = Field(500, ge=1, le=10000)
    from_phone_number: E164 | None = None
    max_concurrent_calls: int | None = Field(None, ge=1)
    scheduled_at: AwareDatetime | None = None
    call_retry_config: CallRetryConfig | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        check_name_template(v)
        return v


NAME_PLACEHOLDERS = ("team", "date", "batch")


def check_name_template(template: str) -> None:
    """Refuse at load what would fail at every tick: unknown or malformed placeholders."""
    use = ", ".join("{" + p + "}" for p in NAME_PLACEHOLDERS)
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as exc:
        raise ValueError(
            f"{exc} (write braces only around {use}; double them to show one)"
        ) from exc
    for f in fields:
        if f not in NAME_PLACEHOLDERS:
            raise ValueError(f"unknown placeholder {{{f}}} (use {use})")
    try:
        template.format(team="t", date="2026-01-01", batch=1)
    except (ValueError, KeyError, IndexError, AttributeError) as exc:
        raise ValueError(f"{exc} (write the placeholders plainly: {use})") from exc


class WriteBack(_Strict):
    columns: dict[ResultName, str] = Field(default_factory=dict)
    fields: dict[ResultName, str] = Field(
        default_factory=dict, description="Salesforce spelling of 'columns'"
    )
    structured_output: dict[str, str] = Field(default_factory=dict)
    log_call_task: bool = False

    def targets(self) -> dict[str, str]:
        """Result name -> column or field, from whichever spelling was used."""
        out: dict[str, str] = {str(k): v for k, v in self.columns.items()}
        out.update({str(k): v for k, v in self.fields.items()})
        return out


class Mapping(_Strict):
    """One team's mapping file."""

    team: str
    source: SourceConfig
    schedule: Schedule = Schedule(every="5m", cron=None)
    contacts: Contacts
    campaign: CampaignSettings
    write_back: WriteBack = WriteBack(
        columns={"status": "Revox status", "outcome": "Outcome", "error": "Revox error"}
    )
    control: Control | None = Field(None, description="A column that stops or re-arms a row")
    callbacks: Callbacks | None = Field(
        None, description="Call back a requested_callback_later row (off unless given)"
    )

    @field_validator("team")
    @classmethod
    def _team(cls, v: str) -> str:
        if not _TEAM.match(v):
            raise ValueError(f"{v!r}: use lower-case letters, digits, '-' and '_'")
        return v


class LoadedMapping(BaseModel):
    """A validated mapping and where it came from."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)
    path: Path
    mapping: Mapping
    lines: dict[tuple[str, ...], int] = Field(default_factory=dict, repr=False)
    data_dir: Path | None = None
    source_id: tuple[str, ...] = ()
    """What makes two mappings read the same rows: the source type and its identity."""

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def locate(self, *field_path: str) -> str:
        """``FILE:LINE: field.path`` for an error about a mapping field (its nearest line)."""
        line = 1
        for n in range(len(field_path), 0, -1):
            if field_path[:n] in self.lines:
                line = self.lines[field_path[:n]]
                break
        return f"{self.path}:{line}: {'.'.join(field_path)}"


_HINTS = {
    "missing": "add it",
    "extra_forbidden": "remove it or check its spelling against `revox-sync schema`",
    "uuid_parsing": "copy the assistant id from the Revox dashboard",
    "string_pattern_mismatch": "write the number in E.164, e.g. +33159000000",
    "int_parsing": "write a whole number",
    "bool_parsing": "write true or false",
    "union_tag_invalid": "use one of the types listed",
    "union_tag_not_found": f"add source.type: {', '.join([*SOURCES][:-1])} or {[*SOURCES][-1]}",
}


def _format_errors(
    file: Path, exc: ValidationError, lines: dict[tuple[str, ...], int]
) -> list[str]:
    problems = []
    errors = []
    for err in exc.errors():
        # pydantic puts the union member (source type, str|VariableSpec branch) in loc
        loc = [str(p) for p in err["loc"]]
        loc = [p for p in loc if p not in SOURCES and p not in ("str", "[key]")]
        loc = [p for p in loc if not p.startswith(("function-", "VariableSpec"))]
        if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
            loc.append("type")
        errors.append((loc, err))
    # "not a string" from the str branch of `str | VariableSpec` is noise beside the real error
    locs = [tuple(loc) for loc, _ in errors]
    for loc, err in errors:
        others = [o for o in locs if o != tuple(loc) and o[: len(loc)] == tuple(loc)]
        if err["type"] == "string_type" and (locs.count(tuple(loc)) > 1 or others):
            continue
        line = 1
        for n in range(len(loc), -1, -1):
            if tuple(loc[:n]) in lines:
                line = lines[tuple(loc[:n])]
                break
        msg = str(err["msg"]).removeprefix("Value error, ")
        hint = _HINTS.get(str(err["type"]))
        where = ".".join(loc) or "(top)"
        problems.append(f"{file}:{line}: {where}: {msg}" + (f" ({hint})" if hint else ""))
    return problems


MAX_MAPPING_BYTES = 1 << 20  # a mapping is a page of YAML; anything larger is a mistake


def load_mapping(path: Path, data_dir: Path | None = None) -> LoadedMapping:
    """Load and validate one mapping file; raise ConfigError listing every problem.

    Whatever goes wrong inside (deep nesting -> RecursionError, a parser bug, memory) is
    that file's ConfigError: one bad file must never stop the other teams or the daemon.
    """
    try:
        return _load_mapping(path, data_dir)
    except ConfigError:
        raise
    except RecursionError as exc:
        raise ConfigError(
            f"{path}:1: (top): the YAML is nested too deeply to be a mapping (flatten it)"
        ) from exc
    except Exception as exc:
        raise ConfigError(
            f"{path}:1: (top): cannot load the mapping ({type(exc).__name__}); "
            "compare it with the examples in mappings/"
        ) from exc


def _read_text(path: Path) -> str:
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_MAPPING_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the mapping file: {exc.strerror}") from exc
    if len(raw) > MAX_MAPPING_BYTES:
        raise ConfigError(
            f"{path}:1: (top): the file is over {MAX_MAPPING_BYTES // 1024} KiB, too large for "
            "a mapping (is it the right file?)"
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}:1: (top): the file is not UTF-8 text (save it as UTF-8)"
        ) from exc


def _load_mapping(path: Path, data_dir: Path | None) -> LoadedMapping:
    text = _read_text(path)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}:{line}: not valid YAML: {problem} (fix the syntax)") from exc
    if not isinstance(data, dict) or node is None:
        raise ConfigError(f"{path}:1: (top): the file must be a YAML mapping of keys (see README)")
    alias = first_alias(node, set())
    if alias is not None:
        raise ConfigError(
            f"{path}:{alias}: (top): YAML anchors and aliases (&, *) are not supported in a "
            "mapping file (write the values out)"
        )
    lines: dict[tuple[str, ...], int] = {}
    line_index(node, (), lines)
    dups: list[tuple[int, str]] = []
    duplicate_keys(node, (), dups)
    problems = [f"{path}:{line}: {msg}" for line, msg in dups]
    try:
        mapping = Mapping.model_validate(data)
    except ValidationError as exc:
        problems += _format_errors(path, exc, lines)
        mapping = None
    if problems or mapping is None:
        raise ConfigError(f"{path}: {len(problems)} problem(s)", problems)
    loaded = LoadedMapping(path=path.resolve(), mapping=mapping, lines=lines, data_dir=data_dir)
    # the plug-in names its rows now, so a path it may not read is refused at load time
    ctx = SourceContext(base_dir=loaded.base_dir, data_dir=data_dir, locate=loaded.locate)
    source = mapping.source
    sid = (source.type, *plugin_for(source).identity(source, ctx))
    return loaded.model_copy(update={"source_id": sid})


def mapping_files(where: Path) -> list[Path]:
    """The mapping files named by --mappings: one file, or every *.yaml/*.yml in a directory."""
    if where.is_file():
        return [where]
    if not where.is_dir():
        raise ConfigError(
            f"{where}: no such mappings file or directory "
            "(pass --mappings or set REVOX_SYNC_MAPPINGS)"
        )
    files = sorted(p for p in where.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
    return [p for p in files if not p.name.startswith(".")]


def load_each(
    paths: Iterable[Path], data_dir: Path | None = None
) -> tuple[list[LoadedMapping], dict[Path, list[str]]]:
    """Load every mapping on its own: the good ones, and each bad file's problems."""
    good: list[LoadedMapping] = []
    failed: dict[Path, list[str]] = {}
    teams: dict[str, Path] = {}
    # two teams on one source would both submit its new rows (a phone in two campaigns)
    sources: dict[tuple[str, ...], Path] = {}

    for p in paths:
        try:
            loaded = load_mapping(p, data_dir)
        except ConfigError as exc:
            failed[p.resolve()] = list(exc.problems)
            continue
        team = loaded.mapping.team
        if team in teams:
            failed[p.resolve()] = [
                f"{p}:1: team: {team!r} is also the team of {teams[team]} (rename one)"
            ]
            continue
        sid = loaded.source_id
        if sid in sources:
            what = " ".join(x for x in sid[1:] if x)
            failed[p.resolve()] = [
                f"{p}:1: source: {sid[0]} {what} is also the source of {sources[sid]} "
                "(one team per source)"
            ]
            continue
        teams[team] = p
        sources[sid] = p
        good.append(loaded)
    return good, failed


def load_all(
    paths: Iterable[Path], data_dir: Path | None = None
) -> tuple[list[LoadedMapping], list[str]]:
    """Load every mapping; return the good ones and every problem of the bad ones."""
    good, failed = load_each(paths, data_dir)
    return good, [p for problems in failed.values() for p in problems]


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a mapping file."""
    schema = Mapping.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "revox-sync team mapping"
    return schema
