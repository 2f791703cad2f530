"""The Salesforce org's data model: objects and fields, record ids, error shapes."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

Record = dict[str, Any]
ORG_ID = "00D5g00000EMUL8EAA"
_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_ID_RE = re.compile(r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$")
_SYSTEM = ("CreatedDate", "LastModifiedDate", "SystemModstamp")


def _checksum(id15: str) -> str:
    """The 3-character suffix that makes a 15-character id case-insensitive (real algorithm)."""
    out = ""
    for i in range(3):
        bits = sum(1 << j for j, c in enumerate(id15[i * 5 : i * 5 + 5]) if "A" <= c <= "Z")
        out += "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"[bits]
    return id15 + out


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def _err(code: str, message: str, fields: list[str] | None = None) -> list[dict[str, Any]]:
    return [{"message": message, "errorCode": code, "fields": fields or []}]


def _rec_err(code: str, message: str, fields: list[str] | None = None) -> dict[str, Any]:
    return {
        "success": False,
        "errors": [{"statusCode": code, "message": message, "fields": fields or []}],
    }


@dataclass
class _Answer:
    status: int
    body: bytes = b""
    content_type: str = "application/json;charset=UTF-8"


def _answer(status: int, payload: Any) -> _Answer:
    return _Answer(status, b"" if payload is None else json.dumps(payload).encode())


def _f(
    name: str,
    type_: str = "string",
    *,
    upd: bool = True,
    create: bool | None = None,
    ref: list[str] | None = None,
    rel: str | None = None,
) -> dict[str, Any]:
    return {
        "name": name,
        "label": re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name.removesuffix("__c")),
        "type": type_,
        "updateable": upd,
        "createable": upd if create is None else create,
        "nillable": type_ not in ("id", "boolean"),
        "custom": name.endswith("__c"),
        "length": 255 if type_ in ("string", "phone", "email", "picklist") else 0,
        "referenceTo": ref or [],
        "relationshipName": rel,
    }


# Field specs: Name[:type][:ro (read-only) | :co (create-only)][>Relationship=Target|Target]
_SYSTEM_SPEC = "Id:id:ro IsDeleted:boolean:ro CreatedDate:datetime:ro "
_SYSTEM_SPEC += "LastModifiedDate:datetime:ro SystemModstamp:datetime:ro"
_OWNER = "OwnerId:reference>Owner=User"
_PERSON = "FirstName LastName Name:string:ro Title Phone:phone MobilePhone:phone Email:email "
_PERSON += f"DoNotCall:boolean Description:textarea {_OWNER}"
_OBJECTS = {  # object: (key prefix, required on create, fields)
    "Lead": (
        "00Q",
        "LastName Company",
        f"{_PERSON} Company Status:picklist LeadSource:picklist Country City "
        "NumberOfEmployees:int AnnualRevenue:currency IsConverted:boolean:ro",
    ),
    "Contact": (
        "003",
        "LastName",
        f"{_PERSON} AccountId:reference>Account=Account MailingCountry MailingCity",
    ),
    "Account": ("001", "Name", f"Name Phone:phone BillingCountry {_OWNER}"),
    "Task": (
        "00T",
        "",
        "WhoId:reference>Who=Lead|Contact WhatId:reference>What=Account Subject:combobox "
        "Status:picklist Priority:picklist TaskSubtype:picklist:co CallType:picklist "
        "CallDisposition CallObject CallDurationInSeconds:int Description:textarea "
        f"ActivityDate:date IsClosed:boolean:ro {_OWNER}",
    ),
    "User": ("005", "", "Name:string:ro Alias Username Email:email"),
}


def _spec(token: str) -> dict[str, Any]:
    head, _, rel = token.partition(">")
    name, type_, flag = ([*head.split(":"), "", ""])[:3]
    relationship, _, targets = rel.partition("=")
    return _f(
        name,
        type_ or "string",
        upd=flag == "",
        create=flag in ("", "co"),
        ref=targets.split("|") if targets else None,
        rel=relationship or None,
    )


def _same_id(a: str, b: str) -> bool:
    """Equal, or the same record id in its 15- and 18-character forms."""
    return a == b or (bool(_ID_RE.match(a)) and bool(_ID_RE.match(b)) and a[:15] == b[:15])


def _mentions(record: Mapping[str, Any], value: str) -> bool:
    return any(isinstance(v, str) and _same_id(v, value) for v in record.values())
