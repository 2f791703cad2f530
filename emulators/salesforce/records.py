# mypy: disable-error-code="misc"
# (mixin methods take ``self: SalesforceEmulator``, the class they are mixed into: mypy
# checks their bodies against it but calls a self-type that is a subclass an error)
"""sObject rows and sObject Collections of the Salesforce emulator (read, write, create)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from emulators.salesforce.objects import (
    _ID_RE,
    Record,
    _Answer,
    _answer,
    _err,
    _mentions,
    _now,
    _rec_err,
)
from emulators.salesforce.soql import SoqlError

if TYPE_CHECKING:
    from emulators.salesforce.api import SalesforceEmulator


class RecordsMixin:
    """GET/PATCH/DELETE/POST on one record, and Collections update/create (allOrNone)."""

    def _get_one(self: SalesforceEmulator, ver: str, name: str, rid: str, **_: Any) -> _Answer:
        obj, record, error = self._lookup(name, rid)
        if error is not None:
            return _answer(404, _err(error["statusCode"], error["message"]))
        return _answer(200, {"attributes": self._attributes(ver, obj, record), **record})

    def _update_one(
        self: SalesforceEmulator, ver: str, name: str, rid: str, *, payload: Any, **_: Any
    ) -> _Answer:
        result = self._apply_update(self._obj_or(name), {**(payload or {}), "id": rid})
        if not result["success"]:
            e = result["errors"][0]
            status = 404 if e["statusCode"] in ("NOT_FOUND", "ENTITY_IS_DELETED") else 400
            return _answer(status, _err(e["statusCode"], e["message"], e["fields"]))
        return _Answer(204)

    def _delete_one(self: SalesforceEmulator, ver: str, name: str, rid: str, **_: Any) -> _Answer:
        _obj, target, error = self._lookup(name, rid)
        if error is not None:
            return _answer(404, _err(error["statusCode"], error["message"]))
        target["IsDeleted"] = True
        return _Answer(204)

    def _create_one(
        self: SalesforceEmulator, ver: str, name: str, *, payload: Any, **_: Any
    ) -> _Answer:
        result = self._apply_create(self._obj_or(name), dict(payload or {}))
        if not result["success"]:
            e = result["errors"][0]
            return _answer(400, _err(e["statusCode"], e["message"], e["fields"]))
        return _answer(201, result)

    def _obj_or(self: SalesforceEmulator, name: str) -> str:
        try:
            return self._obj(name)
        except SoqlError:
            return name

    def _lookup(
        self: SalesforceEmulator, obj: str, rid: str
    ) -> tuple[str, Record, dict[str, Any] | None]:
        """(obj, record, None) or ("", {}, error) for an id that must be of type obj."""
        if not _ID_RE.match(rid or ""):
            return "", {}, _rec_err("MALFORMED_ID", f"malformed id {rid}", ["Id"])["errors"][0]
        found = self.index.get(rid[:15])
        if obj in self.prefix and rid[:3] != self.prefix[obj]:
            msg = f"{obj} ID: id value of incorrect type: {rid}"
            return "", {}, _rec_err("MALFORMED_ID", msg, ["Id"])["errors"][0]
        if found is None:
            msg = "invalid cross reference id"
            return "", {}, _rec_err("INVALID_CROSS_REFERENCE_KEY", msg, ["Id"])["errors"][0]
        if found[1]["IsDeleted"]:
            return "", {}, _rec_err("ENTITY_IS_DELETED", "entity is deleted", ["Id"])["errors"][0]
        return found[0], found[1], None

    def _scripted(
        self: SalesforceEmulator, record: Mapping[str, Any], method: str
    ) -> dict[str, Any] | None:
        for fault in self.faults:
            if fault.kind != "record_error" or fault.record_id is None:
                continue
            if _mentions(record, fault.record_id) and fault.take(method, "/composite/sobjects"):
                msg = fault.message or {
                    "UNABLE_TO_LOCK_ROW": "unable to obtain exclusive "
                    "access to this record or 1 records"
                }.get(fault.status_code, "scripted failure")
                return _rec_err(fault.status_code, msg, fault.fields)
        return None

    def _values(
        self: SalesforceEmulator, obj: str, record: Mapping[str, Any], mode: str
    ) -> tuple[Record, Any]:
        """Field values of a write, or a per-record error (``mode``: updateable/createable)."""
        values: Record = {}
        for key, value in record.items():
            if key in ("attributes", "id", "Id"):
                continue
            meta = self._field(obj, key)
            if meta is None:
                raise SoqlError("INVALID_FIELD", f"No such column '{key}' on sobject of type {obj}")
            if not meta[mode]:
                msg = (
                    f"Unable to create/update fields: {meta['name']}. Please check the security "
                    "settings of this field and verify that it is read/write for your profile."
                )
                return {}, _rec_err("INVALID_FIELD_FOR_INSERT_UPDATE", msg, [meta["name"]])
            if meta["type"] == "boolean" and isinstance(value, str):
                value = value.lower() == "true"
            if meta.get("length") and isinstance(value, str) and len(value) > meta["length"]:
                # what Salesforce answers for a Text(255) field given 256+ characters
                limit = meta["length"]
                msg = f"{meta['label']}: data value too large: {value[:20]}... (max length={limit})"
                return {}, _rec_err("STRING_TOO_LONG", msg, [meta["name"]])
            if meta["type"] == "reference" and value:
                target = self.index.get(str(value)[:15])
                if target is None:
                    return {}, _rec_err(
                        "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [meta["name"]]
                    )
                if target[0] not in meta["referenceTo"]:
                    return {}, _rec_err(
                        "FIELD_INTEGRITY_EXCEPTION",
                        f"{meta['label']} ID: id value of incorrect type: {value}",
                        [meta["name"]],
                    )
                if target[1]["IsDeleted"]:
                    return {}, _rec_err("ENTITY_IS_DELETED", "entity is deleted", [meta["name"]])
            values[meta["name"]] = value
        return values, None

    def _apply_update(
        self: SalesforceEmulator, obj: str, record: Mapping[str, Any], commit: bool = True
    ) -> Record:
        if obj not in self.meta:
            return _rec_err("INVALID_TYPE", f"sObject type '{obj}' is not supported.")
        scripted = self._scripted(record, "PATCH")
        if scripted is not None:
            return scripted
        rid = str(record.get("id") or record.get("Id") or "")
        _, target, error = self._lookup(obj, rid)
        if error is not None:
            return {"success": False, "errors": [error]}
        values, failure = self._values(obj, record, "updateable")
        if failure is not None:
            return dict(failure)
        if commit:
            target.update(values)
            target["LastModifiedDate"] = target["SystemModstamp"] = _now()
            self._derive(obj, target)
        return {"id": target["Id"], "success": True, "errors": []}

    def _apply_create(
        self: SalesforceEmulator, obj: str, record: Mapping[str, Any], commit: bool = True
    ) -> Record:
        if obj not in self.meta:
            return _rec_err("INVALID_TYPE", f"sObject type '{obj}' is not supported.")
        if record.get("id") or record.get("Id"):
            return _rec_err("INVALID_FIELD", "cannot specify Id in an insert call", ["Id"])
        scripted = self._scripted(record, "POST")
        if scripted is not None:
            return scripted
        values, failure = self._values(obj, record, "createable")
        if failure is not None:
            return dict(failure)
        missing = [f for f in self.required[obj] if values.get(f) in (None, "")]
        if missing:
            return _rec_err(
                "REQUIRED_FIELD_MISSING",
                f"Required fields are missing: [{', '.join(missing)}]",
                missing,
            )
        if not commit:
            return {"id": None, "success": True, "errors": []}
        return {"id": self._insert(obj, values)["Id"], "success": True, "errors": []}

    def _collection(
        self: SalesforceEmulator, ver: str, *, payload: Any, headers: Mapping[str, str], **_: Any
    ) -> _Answer:
        records = payload.get("records") if isinstance(payload, dict) else None
        if not isinstance(records, list):
            return _answer(400, _err("JSON_PARSER_ERROR", "records is required"))
        if len(records) > 200:
            return _answer(
                400,
                _err(
                    "EXCEEDED_ID_LIMIT",
                    "record limit reached. cannot submit more than 200 records into this call",
                ),
            )
        all_or_none = bool(payload.get("allOrNone"))
        create = "id" not in records[0] if records else False
        apply = self._apply_create if create else self._apply_update
        try:
            results = [
                apply(
                    self._obj_or(str((r.get("attributes") or {}).get("type"))), r, not all_or_none
                )
                for r in records
            ]
        except SoqlError as exc:
            return _answer(400, _err(exc.code, str(exc)))
        if all_or_none:
            if all(r["success"] for r in results):
                results = [
                    apply(self._obj_or(str(r["attributes"]["type"])), r, True) for r in records
                ]
            else:
                rolled = _rec_err(
                    "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                    "Record rolled back "
                    "because not all records were valid and the request was using "
                    "AllOrNone header",
                )
                results = [r if not r["success"] else dict(rolled) for r in results]
        return _answer(200, results)
