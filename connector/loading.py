"""Loading mapping files: YAML with line numbers, every problem of every file at once.

Each problem is ``FILE:LINE: field.path: what is wrong (what to do)``; one bad file is that
file's problem only (``load_each``). The models themselves are in ``config.py``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from adapters import SOURCES, SourceContext, plugin_for
from connector.config import LoadedMapping, Mapping
from connector.errors import ConfigError
from connector.yaml_lines import duplicate_keys, first_alias, line_index

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
