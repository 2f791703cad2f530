"""The ``source:`` block of a Salesforce mapping, apart from the adapter: reading a mapping
must not import simple-salesforce (about 0.15 s), only opening the source does."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class SalesforceSourceConfig(BaseModel):
    """``source:`` of a mapping whose rows live in Salesforce."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["salesforce"]
    object: str = Field(default="Lead", pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    list_view: str | None = None
    where: str | None = None
    domain: str = "login"
    api_version: str = Field(default="59.0", pattern=r"^\d{2,3}\.0$")
    min_remaining_requests: int = Field(default=500, ge=0)

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        # Accept "acme.my", "acme.my.salesforce.com" or a full URL; keep the prefix only.
        bare = re.sub(r"^https?://", "", value.strip()).rstrip("/")
        bare = re.sub(r"\.salesforce\.com$", "", bare, flags=re.IGNORECASE)
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9.\-]*", bare):
            raise ValueError("domain is login, test, or your My Domain (such as acme.my)")
        return bare

    @model_validator(mode="after")
    def _one_selector(self) -> SalesforceSourceConfig:
        if (self.list_view is None) == (self.where is None):
            raise ValueError("set exactly one of list_view (a list view name or id) and where")
        return self
