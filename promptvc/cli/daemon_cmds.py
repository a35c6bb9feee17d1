"""daemon: watch prompt files, auto-commit and sync in the background."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import click

from ..errors import PvcError
from ._common import emit_json, json_option, with_repo


def daemon_options(f):
    f = click.option("--no-autocommit", is_flag=True, help="Only sync; do not commit saves.")(f)
    f = click.option("--interval", type=click.FloatRange(min=0.2), default=2.0, show_default=True,
                     help="Seconds between pulls from the primary.")(f)
    f = click.option("--debounce", type=click.FloatRange(min=0.05), default=0.3,
                     show_default=True, help="Quiet seconds that end a burst of saves.")(f)
    f = click.option("--remote", "remote_name", metavar="NAME",
                     help="Remote to sync with (default: origin, else the first).")(f)
    f = click.option("--metrics-port", type=click.IntRange(1, 65535), metavar="PORT",
                     help="Serve Prometheus metrics on 127.0.0.1:PORT/metrics.")(f)
    return f


@click.group()
def daemon() -> None:
    """Run the sync daemon: saves become commits, commits get pushed."""


def _args(no_autocommit, interval, debounce, remote_name, metrics_port) -> list[str]:
    args = ["--interval", str(interval), "--debounce", str(debounce)]
    if no_autocommit:
        args.append("--no-autocommit")
    if remote_name:
        args += ["--remote", remote_name]
    if metrics_port:
        args += ["--metrics-port", str(metrics_port)]
    return args


@daemon.command("run")
@daemon_options
@with_repo
def daemon_run(repo, no_autocommit, interval, debounce, remote_name, metrics_port) -> None:
    """Run the daemon in the foreground (for systemd and tests); Ctrl-C or SIGTERM stops it."""
    import logging

    from ..daemon.service import Daemon, DaemonOptions

    root = repo.root
    repo.close()
    logging.basicConfig(level=os.environ.get("PVC_LOG_LEVEL", "INFO").upper(),
                        format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    opts = DaemonOptions(autocommit=not no_autocommit, debounce=debounce, interval=interval,
                         remote=remote_name, metrics_port=metrics_port)
    Daemon(root, opts).run()


@daemon.command("start")
@daemon_options
@with_repo
def daemon_start(repo, no_autocommit, interval, debounce, remote_name, metrics_port) -> None:
    """Start the daemon in the background (log in .pvc/daemon.log)."""
    from ..daemon.service import read_state, running_pid

    pid = running_pid(repo.pvc_dir)
    if pid:
        raise PvcError(f"the daemon is already running (pid {pid})",
                       hint="see `pvc daemon status`; stop it with `pvc daemon stop`")
    logf = open(repo.pvc_dir / "daemon.log", "ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "promptvc", "-C", str(repo.root), "daemon", "run",
         *_args(no_autocommit, interval, debounce, remote_name, metrics_port)],
        stdin=subprocess.DEVNULL, stdout=logf, stderr=logf, start_new_session=True, cwd=repo.root,
    )
    logf.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        state = read_state(repo.pvc_dir)
        if state and state.get("pid") == proc.pid and state.get("state") != "starting":
            click.echo(f"pvc daemon started (pid {proc.pid}); log in {repo.pvc_dir / 'daemon.log'}")
            return
        if proc.poll() is not None:
            raise PvcError(
                f"the daemon exited at start (code {proc.returncode}); see "
                f"{repo.pvc_dir / 'daemon.log'}")
        time.sleep(0.05)
    raise PvcError("the daemon did not report ready within 10 s; see "
                               f"{repo.pvc_dir / 'daemon.log'}")


@daemon.command("stop")
@with_repo
def daemon_stop(repo) -> None:
    """Stop the background daemon (SIGTERM; it finishes the work in hand)."""
    from ..daemon.service import running_pid

    pid = running_pid(repo.pvc_dir)
    if not pid or pid < 0:
        click.echo("the daemon is not running")
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if running_pid(repo.pvc_dir) is None:
            click.echo(f"pvc daemon stopped (pid {pid})")
            return
        time.sleep(0.05)
    raise PvcError(f"the daemon (pid {pid}) did not stop within 15 s")


@daemon.command("status")
@json_option
@with_repo
def daemon_status(repo, as_json: bool) -> None:
    """Is the daemon running; last sync, pending commits, conflicts, errors."""
    from ..daemon.service import read_state, running_pid

    pid = running_pid(repo.pvc_dir)
    state = read_state(repo.pvc_dir) or {}
    running = bool(pid)
    if as_json:
        emit_json(dict(state, running=running, pid=pid if running else None))
        return
    if not running:
        click.echo("pvc daemon: not running")
        if state.get("last_sync"):
            click.echo(f"last sync: {state['last_sync']} ({state.get('last_result')})")
        return
    click.echo(f"pvc daemon: {_daemon_line(pid, state.get('state'))}")
    click.echo(f"branch: {state.get('branch')}   remote: {state.get('remote') or 'none'}   "
               f"autocommit: {'on' if state.get('autocommit') else 'off'}")
    if state.get("last_sync"):
        click.echo(f"last sync: {state['last_sync']} ({state.get('last_result')})")
    if state.get("waiting"):
        click.echo(click.style(f"waiting: {state['waiting']}", fg="yellow"))
    click.echo(f"commits made: {state.get('commits_made', 0)}   waiting to be pushed: "
               f"{state.get('pending_commits', 0)}   sync failures: {state.get('sync_failures', 0)}")
    for c in state.get("conflicts") or []:
        click.echo(click.style(f"conflict: {c}", fg="red"))
    for e in (state.get("errors") or [])[-3:]:
        click.echo(click.style(f"error: {e}", fg="red"))


def _daemon_line(pid: int, state: str | None) -> str:
    """`running (pid N)`, plus what is wrong when the daemon is not simply running."""
    if state == "starting":
        return f"starting (pid {pid})"
    extra = {"offline": ", offline (the remote cannot be reached; it keeps retrying)",
             "error": ", the last sync failed (see the errors below)"}.get(state or "", "")
    return f"running (pid {pid}){extra}"


COMMANDS = [daemon]
