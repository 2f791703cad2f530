"""Issue 11, items 8 and 9: every bad file is that file's problem, and nothing else's.

Each test failed on the code before the fix: a deeply nested mapping raised RecursionError
out of the loader, `{team} {region}` passed the load and raised KeyError at every tick, a
cell over 128 KiB stopped its team, `source.path` read any file and its first line was
echoed in the error.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.csv_file import CsvSource, CsvSourceConfig
from connector.errors import ConfigError
from connector.loading import load_all, load_mapping
from connector.mapping import UNREADABLE_ROW, map_row, resolve
from connector.sandbox import Sandbox
from tests.conftest import make_team, mapping_yaml, read_csv, revox_env, run_cli, write_csv

ROWS = [["Ann", "06 12 34 56 78"], ["Bob", "06 12 34 56 79"]]


def test_deeply_nested_yaml_is_that_files_config_error(tmp_path: Path) -> None:
    make_team(tmp_path, ROWS)
    deep = tmp_path / "deep.yaml"
    deep.write_text("team: deep\nx: " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(ConfigError) as err:
        load_mapping(deep)
    assert err.value.problems == [
        f"{deep}:1: (top): the YAML is nested too deeply to be a mapping (flatten it)"
    ]
    good, problems = load_all(sorted(tmp_path.glob("*.yaml")))
    assert [m.mapping.team for m in good] == ["t1"]  # the other team is untouched
    assert problems == err.value.problems


def test_deeply_nested_yaml_does_not_stop_the_cli(tmp_path: Path, sandbox: Sandbox) -> None:
    make_team(tmp_path, ROWS)
    (tmp_path / "deep.yaml").write_text("a: " + "{b: " * 3000 + "1" + "}" * 3000 + "\n")
    proc = run_cli(tmp_path, "sync", "t1", "--once", env=revox_env(sandbox))
    assert proc.returncode == 0, proc.stderr
    status = run_cli(tmp_path, "status")
    assert status.returncode == 2 and "nested too deeply" in status.stderr
    assert "t1: rows" in status.stdout


def test_a_mapping_file_over_one_mib_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_text(mapping_yaml() + "# " + "x" * (1 << 20) + "\n")
    with pytest.raises(ConfigError) as err:
        load_mapping(big)
    assert str(err.value).startswith(f"{big}:1: (top): the file is over 1024 KiB")


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("{team} {region}", "unknown placeholder {region} (use {team}, {date}, {batch})"),
        ("{team} {0}", "unknown placeholder {0} (use {team}, {date}, {batch})"),
        ("{team.upper}", "unknown placeholder {team.upper} (use {team}, {date}, {batch})"),
        ("{team", "expected '}' before end of string (write braces only around {team}"),
        ("{batch:zz}", "Unknown format code 'z' for object of type 'int' (write the"),
    ],
)
def test_campaign_name_placeholders_are_checked_at_load(
    tmp_path: Path, name: str, problem: str
) -> None:
    path = tmp_path / "t1.yaml"
    path.write_text(mapping_yaml(campaign_extra=f"  name: {name!r}"))
    with pytest.raises(ConfigError) as err:
        load_mapping(path)
    (line,) = err.value.problems
    assert line.startswith(f"{path}:14: campaign.name: {problem}"), line


def test_good_campaign_names_still_load(tmp_path: Path) -> None:
    path = tmp_path / "t1.yaml"
    path.write_text(mapping_yaml(campaign_extra="  name: '{team} {date} #{batch:03d} {{x}}'"))
    assert load_mapping(path).mapping.campaign.name.startswith("{team}")


def _leads(folder: Path, rows: list[list[str]]) -> CsvSource:
    write_csv(folder / "leads.csv", ["Name", "Phone"], rows)
    return CsvSource(CsvSourceConfig(type="csv", path="leads.csv"), base_dir=folder)


def test_cells_up_to_one_mib_are_read(tmp_path: Path) -> None:
    source = _leads(tmp_path, [["y" * ((1 << 20) - 1), "0612345678"]])
    (row,) = source.read_rows()
    assert row.problem is None and len(row.values["Name"]) == (1 << 20) - 1


def test_a_larger_cell_rejects_its_row_not_the_team(tmp_path: Path, sandbox: Sandbox) -> None:
    make_team(tmp_path, [["Ann", "06 12 34 56 78"], ["z" * (1 << 20) + "z", "06 12 34 56 79"]])
    proc = run_cli(tmp_path, "sync", "t1", "--once", env=revox_env(sandbox))
    assert proc.returncode == 0, proc.stderr
    ann, big = read_csv(tmp_path / "leads.csv")
    assert ann["Revox status"] not in ("", "rejected") and ann["Revox campaign"]
    assert big["Revox status"] == "rejected"
    assert big["Revox error"] == (
        f"{UNREADABLE_ROW}: The cell 'Name' holds 1024 KiB, over the 1024 KiB a cell may hold; "
        "shorten it."
    )
    assert len(big["Name"]) == (1 << 20) + 1  # the user's cell is kept as it was


def test_row_problem_becomes_a_rejection(tmp_path: Path) -> None:
    source = _leads(tmp_path, [["Ann", "0612345678" + " " * (1 << 20)]])
    path = tmp_path / "t1.yaml"
    path.write_text(mapping_yaml())
    loaded = load_mapping(path)
    rm = resolve(loaded.mapping, source.headers(), source.describe())
    (row,) = source.read_rows()
    rej = map_row(rm, row)
    assert rej is not None and getattr(rej, "reason", None) == UNREADABLE_ROW


def test_source_path_outside_the_mapping_folder_is_refused(tmp_path: Path) -> None:
    team = tmp_path / "team"
    team.mkdir()
    secret = tmp_path / "secret.csv"
    secret.write_text("root:x:0:0\n")
    path = team / "t1.yaml"
    path.write_text(mapping_yaml(csv_name=str(secret)))
    with pytest.raises(ConfigError) as err:
        load_mapping(path)
    assert err.value.problems == [
        f"{path}:4: source.path: {str(secret)!r} is outside {team} (move the file beside the "
        "mapping, or start revox-sync with --data-dir / REVOX_SYNC_DATA_DIR)"
    ]
    path.write_text(mapping_yaml(csv_name="../secret.csv"))  # relative, or through a link
    with pytest.raises(ConfigError):
        load_mapping(path)
    (team / "link.csv").symlink_to(secret)
    path.write_text(mapping_yaml(csv_name="link.csv"))
    with pytest.raises(ConfigError):
        load_mapping(path)
    assert load_mapping(path, data_dir=tmp_path).mapping.team == "t1"  # explicitly allowed


def test_data_dir_option_and_variable(tmp_path: Path) -> None:
    maps, data = tmp_path / "maps", tmp_path / "data"
    maps.mkdir()
    data.mkdir()
    write_csv(data / "leads.csv", ["Name", "Phone"], ROWS)
    (maps / "t1.yaml").write_text(mapping_yaml(csv_name=str(data / "leads.csv")))
    refused = run_cli(maps, "preview", "t1")
    assert refused.returncode == 2 and "is outside" in refused.stderr
    by_option = run_cli(maps, "--data-dir", str(data), "preview", "t1")
    assert by_option.returncode == 0, by_option.stderr
    by_env = run_cli(maps, "preview", "t1", env={"REVOX_SYNC_DATA_DIR": str(data)})
    assert by_env.returncode == 0, by_env.stderr
    missing = run_cli(maps, "preview", "t1", env={"REVOX_SYNC_DATA_DIR": str(tmp_path / "nope")})
    assert missing.returncode == 2
    assert missing.stderr.startswith("config error: REVOX_SYNC_DATA_DIR: ")


def test_headers_of_a_file_that_is_not_the_source_are_not_echoed(tmp_path: Path) -> None:
    (tmp_path / "leads.csv").write_text("root:$6$saltsalt$hashhashhash:19000:0:99999:7:::\n")
    (tmp_path / "t1.yaml").write_text(mapping_yaml())
    proc = run_cli(tmp_path, "preview", "t1")
    assert proc.returncode == 2
    assert "hashhash" not in proc.stderr and "root:" not in proc.stderr
    assert "none of the mapping's columns is in its first line" in proc.stderr


def test_headers_listed_are_capped(tmp_path: Path) -> None:
    header = ["Name", *(f"Column {i} " + "w" * 60 for i in range(40))]
    write_csv(tmp_path / "leads.csv", header, [["Ann", *[""] * 40]])
    (tmp_path / "t1.yaml").write_text(mapping_yaml())
    proc = run_cli(tmp_path, "preview", "t1")
    assert proc.returncode == 2
    (line,) = proc.stderr.splitlines()
    assert f"{tmp_path / 't1.yaml'}:7: contacts.phone: no column 'Phone' in csv:" in line
    assert "Column 18 " in line and "Column 19 " not in line and "... 21 more" in line
    assert "w" * 40 not in line
