"""`revox-sync`: the command line. Errors reach the user as one clear line, never a traceback.

Exit codes: 0 success, 2 configuration error, 3 authentication error, 4 the team is busy
(another process holds its lock; nothing was touched), 1 anything else.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path

from connector import __version__, status_page
from connector.check import check
from connector.config import LoadedMapping
from connector.engine import Engine
from connector.errors import AuthError, ConfigError, ConnectorError, TeamBusy
from connector.loading import json_schema, load_all, mapping_files
from connector.lock import TeamLock
from connector.logs import Redactor, TextFormatter, secret_values
from connector.progress import EVERY, terminal_progress
from connector.runtime import open_team
from connector.settings import Settings
from connector.state import DamagedStateError, StateStore, move_aside, state_path
from connector.summary import TickError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="revox-sync",
        description="Turns rows into Revox call campaigns and writes each result back.",
    )
    p.add_argument("--version", action="version", version=f"revox-sync {__version__}")
    p.add_argument(
        "--mappings",
        type=Path,
        default=None,
        help="a mapping YAML file or a directory of them "
        "(default: $REVOX_SYNC_MAPPINGS, else ./mappings)",
    )
    p.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="where team state lives (default: $REVOX_SYNC_STATE_DIR, "
        "$STATE_DIRECTORY under systemd, else ./state)",
    )
    p.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="a folder that CSV sources may be in besides their mapping's own "
        "(default: $REVOX_SYNC_DATA_DIR, else none)",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    pv = sub.add_parser("preview", help="map every row of a team without sending anything")
    pv.add_argument("team")
    pv.add_argument("--format", choices=("table", "json"), default="table")
    sy = sub.add_parser("sync", help="run one tick for a team now")
    sy.add_argument("team")
    sy.add_argument("--once", action="store_true", help="one tick, then exit (the default)")
    sy.add_argument("--dry-run", action="store_true", help="read and map, send and write nothing")
    st = sub.add_parser("status", help="rows by state, open campaigns, outbox, last tick")
    st.add_argument("team", nargs="?")
    st.add_argument("--format", choices=("table", "json"), default="table")
    ch = sub.add_parser("check", help="validate mappings, reach each source and Revox")
    ch.add_argument("team", nargs="?")
    sta = sub.add_parser("state", help="maintenance of a team's state file")
    sta_sub = sta.add_subparsers(dest="state_command", required=True, metavar="ACTION")
    rb = sta_sub.add_parser("rebuild", help="rebuild a lost state from the source and Revox")
    rb.add_argument("team")
    rc = sta_sub.add_parser(
        "reconcile", help="after restoring an older backup: adopt this team's newer campaigns"
    )
    rc.add_argument("team")
    sub.add_parser("schema", help="print the JSON Schema of a mapping file")
    sb = sub.add_parser("sandbox", help="run the local Revox simulator")
    sb.add_argument("--port", type=int, default=8765)
    sb.add_argument("--speed", type=float, default=1.0, help="simulated seconds per real second")
    sb.add_argument("--api-key", default="sandbox-key")
    sb.add_argument(
        "--generation",
        choices=("seed", "current"),
        default="seed",
        help="which Revox API to speak: the seed page's, or the official client 0.5.0's",
    )
    rn = sub.add_parser("run", help="the long-running daemon: every team on its schedule")
    rn.add_argument(
        "--http",
        metavar="ADDR",
        default=None,
        help="serve /healthz and /metrics on ADDR, e.g. 127.0.0.1:9464",
    )
    rn.add_argument("--log-format", choices=("json", "text"), default="json")
    dm = sub.add_parser("demo", help="the whole loop on a sample CSV and the local sandbox")
    dm.add_argument("--dir", type=Path, default=Path("demo-run"))
    return p


class Context:
    """What every command needs: where mappings and state are, and the environment."""

    def __init__(self, args: argparse.Namespace, settings: Settings) -> None:
        self.env = dict(os.environ)
        self.mappings = args.mappings or settings.mappings or Path("mappings")
        systemd = Path(self.env["STATE_DIRECTORY"]) if self.env.get("STATE_DIRECTORY") else None
        self.state_dir = args.state_dir or settings.state_dir or systemd or Path("state")
        self.data_dir: Path | None = args.data_dir or settings.data_dir
        self.redactor = Redactor([])
        if args.data_dir is not None and not args.data_dir.is_dir():
            raise ConfigError(f"--data-dir {args.data_dir}: not a directory (create it)")

    def load(self, team: str | None = None) -> list[LoadedMapping]:
        good, problems = load_all(mapping_files(self.mappings), self.data_dir)
        if team is not None:
            chosen = [m for m in good if m.mapping.team == team]
            if chosen:
                return chosen
            if problems:
                raise ConfigError(f"team {team!r}: no valid mapping", problems)
            teams = ", ".join(m.mapping.team for m in good) or "none"
            raise ConfigError(
                f"{self.mappings}: no mapping for team {team!r} (teams found: {teams})"
            )
        if problems:
            raise ConfigError(f"{len(problems)} problem(s) in the mappings", problems)
        return good

    @contextmanager
    def engine(self, loaded: LoadedMapping, *, offline: bool = False) -> Iterator[Engine]:
        """A team's engine; offline (preview, check, dry run) sends nothing and writes no
        state. Online, one owner per team: the lock is taken before the state is opened."""
        with TeamLock(self.state_dir, loaded.mapping.team) if not offline else nullcontext():
            team = open_team(loaded, self.state_dir, self.env, offline=offline)
            try:
                yield team.engine
            finally:
                team.close()


def cmd_preview(ctx: Context, args: argparse.Namespace) -> int:
    (loaded,) = ctx.load(args.team)
    with ctx.engine(loaded, offline=True) as engine:
        rows: list[dict[str, object]] = []
        classified = engine.classified()
        phone = engine.phone_header  # known once the headers are read
        progress = terminal_progress()
        for c in classified:
            if progress is not None and not len(rows) % EVERY:
                progress("read", len(rows))
            rej, con = c.rejection, c.contact
            rows.append(
                {
                    "key": c.row.key,
                    "row": c.row.line,
                    "phone_input": c.row.values.get(phone, ""),
                    "to_phone_number": (
                        con.to_phone_number if con else rej.to_phone_number if rej else None
                    ),
                    "prompt_variables": con.prompt_variables if con else {},
                    "status": c.status,
                    "reason": rej.reason if rej else None,
                    "message": rej.message if rej else None,
                }
            )
        if progress is not None:
            progress("read", len(rows))
            progress.close()
    if args.format == "json":
        for r in rows:
            print(json.dumps(r, ensure_ascii=False))
        return 0
    print(f"{'row':>5}  {'status':<9} {'phone':<18} {'E.164':<16} reason")
    for r in rows:
        print(
            f"{r['row']:>5}  {r['status']:<9} {str(r['phone_input'])[:18]:<18} "
            f"{r['to_phone_number'] or '-':<16} {r['reason'] or ''} {r['message'] or ''}"
        )
    counts = {
        s: sum(1 for r in rows if r["status"] == s)
        for s in ("new", "rejected", "filtered", "submitted")
    }
    print(", ".join(f"{k} {v}" for k, v in counts.items()))
    return 0


def cmd_sync(ctx: Context, args: argparse.Namespace) -> int:
    (loaded,) = ctx.load(args.team)
    progress = terminal_progress()  # rows read, contacts sent: on a terminal only
    with ctx.engine(loaded, offline=args.dry_run) as engine:  # a dry run writes no state
        engine.show_progress(progress)
        try:
            summary = engine.tick(dry_run=args.dry_run)
        finally:
            if progress is not None:
                progress.close()
    print(("dry run: " if args.dry_run else "") + summary.line())
    for e in summary.errors:
        print(f"error: {ctx.redactor.redact(e.message)}", file=sys.stderr)
    return 1 if summary.errors else 0


def team_status(ctx: Context, team: str) -> dict[str, object]:
    return status_page.team_status(ctx.state_dir, team)


def cmd_status(ctx: Context, args: argparse.Namespace) -> int:
    # The state of the good teams is shown even while another mapping file is broken
    # (an operator looks at status exactly then); the broken ones still make it exit 2.
    good, problems = load_all(mapping_files(ctx.mappings), ctx.data_dir)
    teams = [m.mapping.team for m in good if args.team in (None, m.mapping.team)]
    if args.team is not None and not teams:
        ctx.load(args.team)  # raises the right ConfigError
    report = [team_status(ctx, t) for t in teams]
    if args.format == "json":
        print(json.dumps(report, indent=2))
    else:
        for r in report:
            rows = r["rows"] or {}
            last = r["last_tick"]
            when = last.get("at") if isinstance(last, dict) else "never"
            print(
                f"{r['team']}: rows {json.dumps(rows)}, open campaigns {r['open_campaigns']}, "
                f"outbox {r['outbox']} (parked {r.get('parked', 0)}), last tick {when}"
            )
            print(
                f"  calls in progress {r['calls_in_progress']}, callbacks due "
                f"{r['callbacks_due']} (waiting {r['callbacks_waiting']}), stopped {r['stopped']}"
            )
            if isinstance(last, dict) and last.get("errors"):
                said = "; ".join(TickError.from_dict(e).message for e in last["errors"])
                print(f"  last errors: {ctx.redactor.redact(said)}")
    for p in problems:
        print(f"config error: {ctx.redactor.redact(p)}", file=sys.stderr)
    return 2 if problems else 0


def cmd_check(ctx: Context, args: argparse.Namespace) -> int:
    report = check(ctx.mappings, ctx.env, args.team, ctx.data_dir)
    for line in report.ok:
        print(line)
    for line in report.lines():
        print(ctx.redactor.redact(line), file=sys.stderr)
    return report.exit_code


def cmd_state(ctx: Context, args: argparse.Namespace) -> int:
    from connector.rebuild import rebuild
    from connector.reconcile import reconcile

    (loaded,) = ctx.load(args.team)
    with TeamLock(ctx.state_dir, loaded.mapping.team):  # nobody else works on it meanwhile
        path = state_path(ctx.state_dir, loaded.mapping.team)
        if args.state_command == "rebuild" and path.exists():
            try:
                StateStore(path, readonly=True).close()
            except DamagedStateError as exc:
                moved = move_aside(path)
                print(f"{args.team}: {exc.problems[0].split(';')[0]}; moved it aside to {moved}")
        team = open_team(loaded, ctx.state_dir, ctx.env)
        try:
            e = team.engine
            act = rebuild if args.state_command == "rebuild" else reconcile
            report = act(e.m, e.source, e.revox, e.state)
        finally:
            team.close()
    print(f"{args.team}: {report.line()}")
    return 0


def cmd_schema(ctx: Context, args: argparse.Namespace) -> int:
    print(json.dumps(json_schema(), indent=2))
    return 0


def cmd_sandbox(ctx: Context, args: argparse.Namespace) -> int:
    import signal

    from connector.sandbox import Sandbox

    # Block the stop signals before the server thread starts, so that only sigwait sees them.
    stop = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop)
    sb = Sandbox(args.api_key, port=args.port, speed=args.speed, generation=args.generation)
    url = sb.start()
    print(
        f"Revox sandbox on {url} (REVOX_BASE_URL={url} REVOX_API_KEY={args.api_key}; "
        f"{args.generation} generation); Ctrl-C stops it",
        flush=True,
    )
    try:
        signal.sigwait(stop)
    finally:
        sb.stop()
    return 0


def cmd_demo(ctx: Context, args: argparse.Namespace) -> int:
    from connector.demo import run_demo

    return run_demo(args.dir)


def cmd_run(ctx: Context, args: argparse.Namespace) -> int:
    from connector.daemon import run_daemon

    env = {**ctx.env, **({"REVOX_SYNC_DATA_DIR": str(ctx.data_dir)} if ctx.data_dir else {})}
    return run_daemon(ctx.mappings, ctx.state_dir, env, http=args.http, log_format=args.log_format)


COMMANDS = {
    "preview": cmd_preview,
    "sync": cmd_sync,
    "status": cmd_status,
    "check": cmd_check,
    "schema": cmd_schema,
    "state": cmd_state,
    "sandbox": cmd_sandbox,
    "demo": cmd_demo,
    "run": cmd_run,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # the one redactor of logs.py: CLI errors quote remote answers and paths just as logs do
    redactor = Redactor(secret_values(os.environ))
    handler = logging.StreamHandler(sys.stderr)  # -v progress lines: redacted as well
    handler.setFormatter(TextFormatter(redactor))
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, handlers=[handler])

    def say(kind: str, text: str) -> None:
        print(f"{kind}: {redactor.redact(text)}", file=sys.stderr)

    try:
        ctx = Context(args, Settings.from_env(os.environ))
        ctx.redactor = redactor
        code: int = COMMANDS[args.command](ctx, args)
        sys.stdout.flush()  # a closed pipe shows here, inside the handler below
        return code
    except ConfigError as exc:
        for p in exc.problems:
            say("config error", p)
        return 2
    except AuthError as exc:
        say("auth error", str(exc))
        return 3
    except TeamBusy as exc:
        print(str(exc), file=sys.stderr)
        return 4
    except ConnectorError as exc:
        say("error", str(exc))
        return 1
    except BrokenPipeError:
        # `revox-sync preview TEAM | head -1`: the reader left; stop quietly, and keep the
        # interpreter's final flush from complaining on stderr
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, as a program killed by the signal would report
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug: one redacted line, never a traceback with secrets
        say("error", f"unexpected {type(exc).__name__}: {exc} (please report this)")
        return 1


if __name__ == "__main__":
    sys.exit(main())
