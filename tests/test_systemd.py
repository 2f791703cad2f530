"""The systemd side: the units (what they must say, `systemd-analyze verify`, an exposure
score <= 2.0), the notify protocol, signals and credentials. Also the notify socket and
the bounded wait that test_daemon uses.

systemd-analyze is not on every CI runner; the tests that need it skip with the reason.
`verify` insists that ExecStart's binary exists, so it checks a copy of each unit whose
binary is /bin/true (the directives under test are the same).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from connector.notify import Notifier, Signals, socket_address, watchdog_interval, with_credentials

SYSTEMD = Path(__file__).resolve().parent.parent / "systemd"
ROOT = SYSTEMD.parent
UNITS = ("revox-sync.service", "revox-sync@.service")
BINARY = "/opt/revox-sync/.venv/bin/revox-sync"
ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed")
REQUIRED = (
    "Type=notify",
    "NotifyAccess=main",
    "WatchdogSec=60",
    "Restart=on-failure",
    "DynamicUser=yes",
    "ExecReload=/bin/kill -HUP $MAINPID",
    "TimeoutStopSec=40",
    "EnvironmentFile=-/etc/revox-sync/revox-sync.env",
    "NoNewPrivileges=yes",
    "ProtectSystem=strict",
    "ProtectHome=yes",
    "PrivateTmp=yes",
    "PrivateDevices=yes",
    "ProtectKernelTunables=yes",
    "ProtectKernelModules=yes",
    "ProtectKernelLogs=yes",
    "ProtectControlGroups=yes",
    "ProtectClock=yes",
    "ProtectHostname=yes",
    "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
    "RestrictNamespaces=yes",
    "RestrictRealtime=yes",
    "RestrictSUIDSGID=yes",
    "LockPersonality=yes",
    "MemoryDenyWriteExecute=yes",
    "SystemCallFilter=@system-service",
    "SystemCallArchitectures=native",
    "CapabilityBoundingSet=",
    "AmbientCapabilities=",
    "UMask=0077",
    "ProcSubset=pid",
    "ProtectProc=invisible",
)


T = TypeVar("T")


def wait_for(cond: Callable[[], T], timeout: float, what: str) -> T:
    """Poll ``cond`` until it is truthy; fail after ``timeout`` seconds."""
    end = time.monotonic() + timeout
    while not (value := cond()):
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)
    return value


class NotifySocket:
    """What systemd would receive on $NOTIFY_SOCKET."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="rxn")  # short: AF_UNIX paths stop at 107 bytes
        self.path = os.path.join(self.dir, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.lines: list[tuple[float, str]] = []
        self._stop = False
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        while not self._stop:
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            self.lines += [(time.monotonic(), x) for x in data.decode().split("\n")]

    def seen(self, prefix: str) -> list[tuple[float, str]]:
        return [(t, x) for t, x in self.lines if x.startswith(prefix)]

    def close(self) -> None:
        self._stop = True
        self.sock.close()
        os.unlink(self.path)
        os.rmdir(self.dir)


def notify_listener() -> Iterator[NotifySocket]:
    ns = NotifySocket()
    yield ns
    ns.close()


notify_socket = pytest.fixture(notify_listener, name="notify_socket")


def directives(unit: str) -> list[str]:
    lines = (SYSTEMD / unit).read_text().splitlines()
    return [x.strip() for x in lines if x.strip() and not x.lstrip().startswith(("#", ";"))]


@pytest.mark.parametrize("unit", UNITS)
def test_unit_has_the_required_directives(unit: str) -> None:
    found = directives(unit)
    missing = [d for d in REQUIRED if d not in found]
    assert not missing, f"{unit} lacks {missing}"
    assert not any(d.startswith("IPAddressDeny=") for d in found)  # must reach the APIs


def test_each_unit_runs_its_own_mappings_and_state() -> None:
    (main,) = [d for d in directives(UNITS[0]) if d.startswith("ExecStart=")]
    assert main == (
        f"ExecStart={BINARY} --mappings /etc/revox-sync/mappings "
        "--state-dir ${STATE_DIRECTORY} run --http 127.0.0.1:9464"
    )
    assert "StateDirectory=revox-sync" in directives(UNITS[0])
    (one,) = [d for d in directives(UNITS[1]) if d.startswith("ExecStart=")]
    assert "--mappings /etc/revox-sync/mappings/%i.yaml" in one
    assert "StateDirectory=revox-sync/%i" in directives(UNITS[1])


def test_env_example_names_every_variable_the_code_reads() -> None:
    example = (SYSTEMD / "revox-sync.env.example").read_text()
    code = "\n".join(
        p.read_text() for d in ("connector", "adapters") for p in (ROOT / d).glob("*.py")
    )
    read = set(re.findall(r"\"((?:REVOX|SALESFORCE|GOOGLE|SHEETS)_[A-Z_]+)\"", code))
    assert read, "no variable found: did the code move?"
    missing = sorted(v for v in read if not re.search(rf"^#?{v}=", example, re.MULTILINE))
    assert not missing, f"add to revox-sync.env.example: {missing}"
    values = [x.split("=", 1)[1] for x in example.splitlines() if re.match(r"^[A-Z_]+=", x)]
    assert values == [""] * len(values), "the example must not hold values"


def _with_existing_binary(unit: str, where: Path, name: str | None = None) -> Path:
    true = shutil.which("true") or "/bin/true"
    text = (SYSTEMD / unit).read_text().replace(BINARY, true)
    if not Path("/bin/kill").exists():
        text = text.replace("/bin/kill", true)
    path = where / (name or unit)
    path.write_text(text)
    return path


@needs_analyze
@pytest.mark.parametrize(
    ("unit", "name"),
    [(UNITS[0], None), (UNITS[1], None), (UNITS[1], "revox-sync@acme-sales.service")],
)
def test_systemd_analyze_verify(unit: str, name: str | None, tmp_path: Path) -> None:
    path = _with_existing_binary(unit, tmp_path, name)
    proc = subprocess.run(
        [str(ANALYZE), "verify", str(path)], capture_output=True, text=True, timeout=60
    )
    ours = [x for x in (proc.stdout + proc.stderr).splitlines() if path.name in x]
    assert proc.returncode == 0 and not ours, proc.stdout + proc.stderr


@needs_analyze
@pytest.mark.parametrize("unit", UNITS)
def test_security_exposure_is_at_most_2(unit: str) -> None:
    proc = subprocess.run(
        [str(ANALYZE), "security", "--offline=yes", str(SYSTEMD / unit)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if "--offline" in proc.stderr and "unrecognized" in proc.stderr:
        pytest.skip("this systemd-analyze has no --offline (systemd < 250)")
    m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", proc.stdout)
    assert m, proc.stdout + proc.stderr
    print(f"\n{unit}: exposure {m.group(1)}")
    assert float(m.group(1)) <= 2.0, proc.stdout


def test_notify_is_a_noop_without_socket() -> None:
    quiet = Notifier({})
    assert not quiet.enabled and not quiet.ready("x") and not quiet.watchdog_due(0)
    assert socket_address("@abstract") == b"\0abstract" and socket_address("/run/x") == "/run/x"
    assert watchdog_interval({"WATCHDOG_USEC": "1000000"}) == 0.5
    assert watchdog_interval({"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"}, pid=2) is None
    assert watchdog_interval({}) is None


def test_notify_speaks_the_protocol(notify_socket: NotifySocket) -> None:
    n = Notifier({"NOTIFY_SOCKET": notify_socket.path, "WATCHDOG_USEC": "2000000"})
    assert n.ready("2 team(s)") and n.watchdog_due(10) and not n.watchdog_due(10.5)
    assert n.status("a\nb") and not n.status("a b") and n.stopping()
    n.close()
    want = ["READY=1", "STATUS=2 team(s)", "WATCHDOG=1", "STATUS=a b", "STOPPING=1"]
    wait_for(lambda: len(notify_socket.lines) >= 6, 5, "six lines")
    assert [x for _, x in notify_socket.lines] == [*want, "STATUS=stopping"]


def test_notify_abstract_socket() -> None:
    name = f"rx-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.bind(b"\0" + name.encode())
        assert Notifier({"NOTIFY_SOCKET": f"@{name}"}).watchdog()
        assert s.recv(100) == b"WATCHDOG=1"


def test_signals_only_set_flags() -> None:
    s = Signals()
    s.handle(signal.SIGHUP)
    assert s.take_reload() and not s.take_reload() and not s.stop
    s.handle(signal.SIGTERM)
    assert s.stop and not s.force and s.wake.is_set()
    s.handle(signal.SIGINT)  # a second stop signal: stop now
    assert s.force


def test_credentials_become_variables(tmp_path: Path) -> None:
    (tmp_path / "REVOX_API_KEY").write_text("from-credential\n")
    (tmp_path / "salesforce.key").write_text("-----BEGIN")
    env = with_credentials({"CREDENTIALS_DIRECTORY": str(tmp_path)})
    assert env["REVOX_API_KEY"] == "from-credential" and "salesforce.key" not in env
    kept = with_credentials({"CREDENTIALS_DIRECTORY": str(tmp_path), "REVOX_API_KEY": "env"})
    assert kept["REVOX_API_KEY"] == "env"


def test_stop_bounds_fit_in_the_units() -> None:
    """The daemon's own stop bound (30 s) ends before systemd's SIGKILL (TimeoutStopSec)."""
    for unit in UNITS:
        (stop,) = [d for d in directives(unit) if d.startswith("TimeoutStopSec=")]
        assert int(stop.split("=")[1]) > 30
