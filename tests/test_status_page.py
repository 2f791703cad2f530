"""Status at a glance: `status --format json` and the HTML page at `/` show the same figures."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from connector import status_page
from connector.cli import main
from connector.health import Board, HealthServer
from connector.logs import Redactor
from connector.metrics import Metrics
from tests.test_control import CONTROL, E164
from tests.test_control import team as team

FIGURE = re.compile(r'data-figure="([^"]+)">([^<]*)<')


def figures(page: str) -> dict[str, str]:
    return dict(FIGURE.findall(page))


def expected(report: dict[str, Any]) -> dict[str, str]:
    out = {f"rows.{k}": str(v) for k, v in report["rows"].items()}
    out.update({name: str(report[name]) for name, _ in status_page.FIGURES})
    out["last_tick"] = str(report["last_tick"]["at"])
    return out


@pytest.mark.parametrize("gen", ["seed", "current"])
def test_status_json_and_page_agree(team: Any, gen: Any, capsys: Any) -> None:
    extra = CONTROL + "callbacks: {after: 2h, max: 2}\n"
    t = team(gen, 8, extra=extra, scenarios={E164[0]: "requested_callback_later"})
    t.add("Late", "06 12 34 00 30", action="stop")
    t.tick()
    t.edit("P7", Action="stop")
    t.tick()
    t.settle()
    t.clock.now += timedelta(hours=1)
    t.tick()
    state_dir = t.tmp / "state"
    code = main(["--mappings", str(t.tmp / "t1.yaml"), "--state-dir", str(state_dir),
                 "status", "--format", "json"])  # fmt: skip
    assert code == 0
    report = json.loads(capsys.readouterr().out)[0]
    assert report["stopped"] == 2  # one before submission, one cancelled
    assert report["callbacks_waiting"] + report["callbacks_due"] == 1  # vs the real clock
    assert report["calls_in_progress"] == 0
    page = status_page.render_html([report])
    assert figures(page) == expected(report)
    assert "<script" not in page and "name=viewport" in page
    server = HealthServer("127.0.0.1:0", Board(Redactor([])), Metrics(), lambda: page)
    server.start()
    try:
        got = httpx.get(f"http://127.0.0.1:{server.port}/", timeout=5)
        assert got.status_code == 200 and got.headers["content-type"].startswith("text/html")
        assert figures(got.text) == expected(report)
        # /healthz is served beside the page: 503 here, this board's scheduler is not running
        assert httpx.get(f"http://127.0.0.1:{server.port}/healthz", timeout=5).status_code == 503
    finally:
        server.stop()


BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(BROWSER is None, reason="no Chromium here (apt-get install chromium)")
def test_status_page_in_headless_browser(tmp_path: Path) -> None:
    report = status_page.team_status(tmp_path, "t1")
    report["last_tick"] = {"at": "2026-11-27T09:00:00+00:00"}
    html_file = tmp_path / "status.html"
    html_file.write_text(status_page.render_html([report]))
    dom = subprocess.run(
        [str(BROWSER), "--headless", "--no-sandbox", "--dump-dom", html_file.as_uri()],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    assert figures(dom) == expected(report)
