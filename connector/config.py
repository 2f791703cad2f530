"""The team mapping file: pydantic models, YAML loading with line numbers, and error formatting.

Every problem of every mapping is reported at once, each as
``FILE:LINE: field.path: what is wrong (what to do)``.
"""

from __future__ import annotations

import re
import string
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union
from uuid import UUID

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from adapters import SourceConfigBase, config_models
from connector.policy import Callbacks, Control, Dedupe, IanaZone

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
    timezone: IanaZone = "UTC"

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
