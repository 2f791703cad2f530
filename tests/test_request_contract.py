"""Every request body revox-sync sends, held to the official client's own parameter types.

The current generation's reference is the `revox` package (0.5.0): its TypedDicts say which
keys a body may carry and of what type. A body is validated by pydantic over that type, and
every key is checked against the TypedDict's declared keys (pydantic ignores extra keys of
a TypedDict, and an unknown key is exactly the bug this guards against). The bodies are the
ones the connector really sent during a whole run, captured by the sandbox.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import typing_extensions
from pydantic import TypeAdapter, ValidationError

from connector.engine import Engine
from connector.generations import create_body
from connector.loading import load_mapping
from connector.revox import RevoxClient
from connector.sandbox import Sandbox
from connector.sources import open_source
from connector.state import StateStore
from tests.conftest import API_KEY, make_team

revox_types = pytest.importorskip("revox.types")

FR = [f"06 12 34 00 {i:02d}" for i in range(20)]
RETRY = """  call_retry_config:
    allowed_days: [monday, friday]
    call_twice_in_a_row: true
    calling_windows:
      - {calling_window_start_time: "09:00", calling_window_end_time: "12:00",
         retry_delay_seconds: 1800}
      - {calling_window_start_time: "2pm", calling_window_end_time: "6pm",
         retry_delay_seconds: 3600}
    max_retry_attempts: 3
    timezone: Europe/Paris
  from_phone_number: "+33159000000"
  max_concurrent_calls: 3"""


def unknown_keys(value: Any, tp: Any, path: str = "") -> Iterator[str]:
    """Paths of keys that the (nested) TypedDict `tp` does not declare."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        yield from unknown_keys(value, typing.get_args(tp)[0], path)
    elif origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            if typing_extensions.is_typeddict(arg) and isinstance(value, dict):
                yield from unknown_keys(value, arg, path)
    elif typing_extensions.is_typeddict(tp) and isinstance(value, dict):
        hints = typing.get_type_hints(tp, include_extras=True)
        for key, sub in value.items():
            if key not in hints:
                yield f"{path}{key}"
            else:
                yield from unknown_keys(sub, _strip(hints[key]), f"{path}{key}.")
    elif origin in (list, Iterable, typing.Sequence, tuple) or (
        origin is not None and getattr(origin, "__name__", "") in ("Iterable", "Sequence")
    ):
        (item,) = typing.get_args(tp)[:1] or (Any,)
        for i, sub in enumerate(value if isinstance(value, list) else []):
            yield from unknown_keys(sub, item, f"{path}{i}.")


def _strip(tp: Any) -> Any:
    """Required[X] / NotRequired[X] -> X."""
    while typing.get_origin(tp) in (typing.Required, typing.NotRequired) or getattr(
        typing.get_origin(tp), "_name", ""
    ) in ("Required", "NotRequired"):
        tp = typing.get_args(tp)[0]
    return tp


def assert_conforms(body: Any, tp: Any) -> None:
    TypeAdapter(tp).validate_python(body)  # types and required keys
    assert list(unknown_keys(body, tp)) == [], list(unknown_keys(body, tp))


def test_the_checker_catches_what_it_must() -> None:
    """The first release's bodies fail here (the checker is not a rubber stamp)."""
    create = revox_types.CampaignCreateParams
    launch = revox_types.CampaignLaunchParams
    old_launch = {"mode": "ai_first", "selection": {"type": "all"}}
    with pytest.raises(ValidationError):
        assert_conforms(old_launch, launch)
    good = {"assistant_id": "a", "name": "n", "contacts": []}
    assert_conforms(good, create)
    with pytest.raises(AssertionError):
        assert_conforms({**good, "launch": True}, create)
    window = {
        "calling_window_start_time": "09:00",
        "calling_window_end_time": "18:00",
        "retry_delay_seconds": 1,
    }
    crc = {
        "allowed_days": ["monday"],
        "call_twice_in_a_row": False,
        "max_retry_attempts": 2,
        "calling_windows": [window],
    }
    assert_conforms({**good, "call_retry_config": crc}, create)
    with pytest.raises(AssertionError):
        assert_conforms({**good, "call_retry_config": {**crc, "retry_delay_seconds": 5}}, create)


def test_every_body_sent_to_the_current_generation_conforms(tmp_path: Path) -> None:
    """A whole run (create, launch-calls, polls, a refused contact) against a strict server."""
    when = datetime.now(UTC) + timedelta(minutes=5)
    extra = RETRY + f"\n  scheduled_at: {when.isoformat()}"
    loaded = load_mapping(make_team(tmp_path, [[f"P{i}", n] for i, n in enumerate(FR[:10])],
                                    campaign_extra=extra, max_contacts=4))  # fmt: skip
    types = {
        "/campaigns": revox_types.CampaignCreateParams,
        "launch-calls": revox_types.CampaignLaunchParams,
    }
    with Sandbox(API_KEY, generation="current", refused_numbers=["+33612340003"]) as sb:
        state = StateStore(tmp_path / "state" / "t1.sqlite")
        revox = RevoxClient(API_KEY, sb.url, sleep=lambda s: None, timeout=2.0)
        engine = Engine(loaded, open_source(loaded, {}), revox, state)
        try:
            for _ in range(6):
                engine.tick()
                sb.advance(4 * 3600)
        finally:
            state.close()
            revox.close()
        sent = [(p.split("?")[0], b) for m, p, b in sb.posted]
    kinds = {p if p == "/campaigns" else p.rsplit("/", 1)[1] for p, _ in sent}
    assert kinds == {"/campaigns", "launch-calls"}, kinds
    creates = 0
    for path, body in sent:
        kind = path if path == "/campaigns" else path.rsplit("/", 1)[1]
        # every body, the first create included: the phone history told the generation
        assert_conforms(body, types[kind])
        creates += kind == "/campaigns"
    assert creates >= 3


@pytest.mark.parametrize("gen", ["seed", "current"])
def test_create_bodies_of_each_generation(tmp_path: Path, gen: str) -> None:
    loaded = load_mapping(make_team(tmp_path, [["A", FR[0]]], campaign_extra=RETRY))
    contacts = [{"to_phone_number": "+33612340000", "prompt_variables": {"first_name": "A"}}]
    body = create_body(gen, loaded.mapping.campaign, "[rx-abcdef-0123456789ab] n", contacts)  # type: ignore[arg-type]
    if gen == "current":
        assert_conforms(body, revox_types.CampaignCreateParams)
    else:
        assert body["launch"] is True
        rest = {k: v for k, v in body.items() if k != "launch"}
        assert_conforms(rest, revox_types.CampaignCreateParams)  # the seed adds only launch
