"""The sync daemon: watch prompt files, auto-commit, stay in sync with the primary.

One daemon per repository (an exclusive lock on `.pvc/daemon.lock`); pid in
`.pvc/daemon.pid`, log in `.pvc/daemon.log`, state in `.pvc/daemon.json` (what `pvc daemon
status` and the TUI read). SIGTERM / SIGINT stop it after the work in hand.

Network work never runs on a libSQL connection inside this process: pushes are HTTP
requests with socket timeouts, replica syncs run in a child process killed at a deadline
(see promptvc/remote/replica.py), so a frozen primary cannot freeze the daemon.

Layer: a front end (like the CLI). It may import promptvc's public modules (Repo,
porcelain, remote.remotes, search) and daemon.watcher, the one user of watchdog; it uses
the repository only through Repo's public methods.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import signal
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from promptvc.locks import FileLock

from .watcher import StableFilter, Watcher, digest

if TYPE_CHECKING:
    from http.server import ThreadingHTTPServer

    from promptvc.embedders import Embedder
    from promptvc.remote.remotes import Remote
    from promptvc.repo import Repo

log = logging.getLogger("pvc.daemon")


@dataclass
class DaemonOptions:
    autocommit: bool = True
    debounce: float = 0.3
    interval: float = 2.0
    remote: str | None = None
    metrics_port: int | None = None
    max_backoff: float = 60.0


@dataclass
class DaemonState:
    pid: int = 0
    state: str = "starting"  # starting | running | offline | error | stopped
    branch: str | None = None
    started_at: str = ""
    last_sync: str | None = None
    last_result: str | None = None
    last_sync_seconds: float | None = None
    pending_commits: int = 0
    commits_made: int = 0
    syncs: int = 0
    sync_failures: int = 0
    conflicts: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    remote: str | None = None
    autocommit: bool = True
    heartbeat: str = ""
    waiting: str | None = None  # why the daemon does not commit or sync right now


def _now() -> str:
    from promptvc.clock import now_wall

    return now_wall()


class DaemonLock(FileLock):
    """`.pvc/daemon.lock`: one daemon per repository."""

    def __init__(self, pvc_dir: Path):
        super().__init__(pvc_dir / "daemon.lock")


class Daemon:
    def __init__(self, root: Path, options: DaemonOptions):
        self.root = root
        self.pvc_dir = root / ".pvc"
        self.options = options
        self.stop_event = threading.Event()
        self.state = DaemonState(pid=os.getpid(), started_at=_now(),
                                 autocommit=options.autocommit)
        self.repo: Repo | None = None  # opened by run()
        self.remote: Remote | None = None
        self.watcher: Watcher | None = None
        self.filter = StableFilter()
        self.next_sync = 0.0
        self.backoff = 0.0
        self.sync_latencies: list[float] = []
        self.metrics_server: ThreadingHTTPServer | None = None
        self._tracked_cache: set[str] = set()
        self.repo_matcher: Callable[[str], bool] = lambda rel: False
        self._embedder: Embedder | None = None
        self._embedder_loaded = False
        self._lock = DaemonLock(self.pvc_dir)

    @property
    def open_repo(self) -> Repo:
        """The repository, once run() has opened it."""
        if self.repo is None:
            raise RuntimeError("the daemon has not opened its repository yet")
        return self.repo

    # -- lifecycle --------------------------------------------------------------------------
    def request_stop(self, *_args: object) -> None:
        self.stop_event.set()
        if self.watcher is not None:
            self.watcher.debouncer.wakeup.set()

    def run(self) -> int:
        from promptvc.errors import PvcError
        from promptvc.repo import Repo

        if not self._lock.acquire():
            raise PvcError(f"a pvc daemon is already running for {self.root}",
                           hint="see `pvc daemon status`; stop it with `pvc daemon stop`")
        try:
            (self.pvc_dir / "daemon.pid").write_text(str(os.getpid()))
            if threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGTERM, self.request_stop)
                signal.signal(signal.SIGINT, self.request_stop)
            self.repo = repo = Repo.open(self.root)
            self._setup_remote()
            self.state.branch = repo.current_branch()
            self._prime()
            self.watcher = watcher = Watcher(self.root, self._wanted, self.options.debounce)
            watcher.start()
            if self.options.metrics_port:
                self._start_metrics(self.options.metrics_port)
            self.state.state = "running"
            log.info("daemon started (pid %s, autocommit %s, remote %s)", os.getpid(),
                     self.options.autocommit, self.remote.name if self.remote else None)
            self._write_state()
            self._scan_once()  # edits made while no daemon ran
            self._loop(watcher)
            return 0
        finally:
            self._shutdown()

    def _shutdown(self) -> None:
        if self.watcher is not None:
            self.watcher.stop()
        if self.metrics_server is not None:
            self.metrics_server.shutdown()
            self.metrics_server.server_close()
        self.state.state = "stopped"
        with contextlib.suppress(Exception):
            self._write_state()
        if self.repo is not None:
            self.repo.close()
        with contextlib.suppress(FileNotFoundError):
            (self.pvc_dir / "daemon.pid").unlink()
        self._lock.release()
        log.info("daemon stopped")

    def _setup_remote(self) -> None:
        from promptvc.errors import PvcError
        from promptvc.remote.remotes import default_remote, get_remote, list_remotes

        config = self.open_repo.config
        try:
            if self.options.remote:
                self.remote = get_remote(config, self.options.remote)
            elif list_remotes(config):
                self.remote = default_remote(config)
        except PvcError as exc:
            self.state.errors.append(exc.message)
        self.state.remote = self.remote.name if self.remote else None

    def _wanted(self, rel: str) -> bool:
        # called from the observer thread: no database access here
        name = rel.rsplit("/", 1)[-1]
        if name.startswith(".") and name.endswith(".pvc-tmp"):
            return False
        return rel in self._tracked_cache or self.repo_matcher(rel)

    def _prime(self) -> None:
        """Remember the committed content of tracked files, and how to match new ones."""
        repo = self.open_repo
        tracked = repo.tracked()
        self._tracked_cache = set(tracked)
        globs = repo.matches_prompt_globs
        patterns = repo.ignore_patterns()
        is_ignored = repo.is_ignored
        self.repo_matcher = lambda rel: globs(rel) and not is_ignored(rel, patterns)
        for rel in tracked:
            self.filter.prime(rel, digest(self.root / rel))

    # -- main loop --------------------------------------------------------------------------
    def _loop(self, watcher: Watcher) -> None:
        deb = watcher.debouncer
        while not self.stop_event.is_set():
            wait = deb.time_to_due()
            until_sync = max(0.0, self.next_sync - time.monotonic()) if self.remote else None
            timeout = min(x for x in (wait, until_sync, 1.0) if x is not None)
            deb.wakeup.wait(timeout)
            deb.wakeup.clear()
            if self.stop_event.is_set():
                break
            due = deb.due()
            if due:
                self._handle_changes(due)
            if self.remote and time.monotonic() >= self.next_sync and not deb.pending():
                self._sync()
            self._write_state()

    def _scan_once(self) -> None:
        """Commit edits made while the daemon was not running."""
        if not self.options.autocommit:
            return
        try:
            changes, _ = self.open_repo.working_changes()
        except Exception as exc:  # noqa: BLE001
            self._error(f"scan failed: {exc}")
            return
        if not changes:
            return
        paths = sorted({c.path for c in changes} | {c.old_path for c in changes if c.old_path})
        # the same stability rule as the watcher: a file still being written waits
        stable, unstable = StableFilter().changed(self.root, paths, self.options.debounce)
        for r in unstable:
            if self.watcher is not None:
                self.watcher.debouncer.touch(r)
        if stable:
            self._commit(stable)

    def _handle_changes(self, rels: list[str]) -> None:
        changed, unstable = self.filter.changed(self.root, rels, self.options.debounce)
        for r in unstable:  # still being written: look again after the next quiet window
            if self.watcher is not None:
                self.watcher.debouncer.touch(r)
        if not changed or not self.options.autocommit:
            return
        self._commit(changed)

    def _commit(self, rels: list[str]) -> None:
        """Autosave RELS: one library call (`Repo.autosave`: tracking the new files and the
        commit in one transaction, under the working-tree lock; no `pvc check`)."""
        from promptvc.errors import PvcError

        try:
            saved = self.open_repo.autosave(rels)
        except PvcError as exc:
            self._error(f"commit failed: {exc.message}")
            return
        if saved.waiting:  # never commit in the middle of a merge or another command
            if self.state.waiting != saved.waiting:
                log.info("not committing: waiting: %s", saved.waiting)
            self.state.waiting = saved.waiting
            self._write_state()
            if self.watcher is not None:
                for r in rels:  # look again once it is over
                    self.watcher.debouncer.touch(r)
            return
        self.state.waiting = None
        for skipped in saved.skipped:  # e.g. a binary file matching a glob
            self._error(skipped.message)
        self._tracked_cache = saved.tracked
        info = saved.commit
        if info is None:
            return
        self.state.commits_made += 1
        self.state.pending_commits = self._pending()
        if self.backoff == 0:
            self.next_sync = time.monotonic()  # push promptly (unless backing off)
        log.info("committed %s: %s", info.short, saved.message)
        self._index_vectors()

    # -- sync ---------------------------------------------------------------------------------
    def _sync(self) -> None:
        """One sync round: one library call (`porcelain.sync_step`, which holds the policy:
        wait, autosave first, fetch only, pull, push); the daemon records its outcome."""
        from promptvc import porcelain
        from promptvc.errors import PvcError

        repo = self.open_repo
        remote = self.remote
        if remote is None:  # the loop syncs only with a remote
            return
        started = time.monotonic()
        try:
            step = porcelain.sync_step(
                repo, remote, commit_first=self._scan_once if self.options.autocommit else None)
            self.state.branch = step.branch
            self.state.waiting = step.waiting
            if step.outcome != "waiting":  # the conflicts of this round (none: fetched only)
                self.state.conflicts = step.conflicts
            if step.updated_work:
                self._prime()
            if step.outcome == "waiting":
                result = f"waiting: {step.waiting}"
            elif step.outcome == "conflicts":
                result = (f"conflict with {remote.name}: " + ", ".join(step.conflicts)
                          + " (run `pvc pull` to merge by hand)")
            elif step.outcome == "refused-non-ff":
                result = "push refused (non-fast-forward); will pull again"
            elif step.outcome == "fetched-only":
                result = "fetched only: uncommitted changes in the working folder"
            else:
                result = "ok"
            self._sync_ok(time.monotonic() - started, result)
            self._index_vectors()
        except PvcError as exc:
            self._sync_failed(exc.message, offline=exc.transient)
        except Exception as exc:  # noqa: BLE001 - the daemon must survive anything
            log.exception("sync crashed")
            self._sync_failed(f"{type(exc).__name__}: {exc}")
        self.state.pending_commits = self._pending()

    def _pending(self) -> int:
        from promptvc import refs as R

        repo = self.open_repo
        head = repo.head()
        branch = repo.current_branch()
        if not head or not self.remote or not branch:
            return 0
        tracking = repo.get_ref(f"{R.REMOTES}{self.remote.name}/{branch}")
        return repo.count_commits(head, [tracking])  # stops where the tracking ref is

    def _sync_ok(self, seconds: float, result: str) -> None:
        self.state.state = "running"
        self.state.syncs += 1
        self.state.last_sync = _now()
        self.state.last_result = result
        self.state.last_sync_seconds = round(seconds, 4)
        self.sync_latencies.append(seconds)
        self.sync_latencies = self.sync_latencies[-100:]
        self.backoff = 0.0
        self.next_sync = time.monotonic() + self.options.interval

    def _sync_failed(self, message: str, offline: bool = False) -> None:
        self.state.sync_failures += 1
        self.state.state = "offline" if offline else "error"
        self.state.last_result = message
        self.state.last_sync = _now()
        self.backoff = min(self.options.max_backoff,
                           max(self.options.interval, self.backoff * 2 or self.options.interval))
        self.next_sync = time.monotonic() + self.backoff * random.uniform(0.5, 1.5)
        log.warning("sync failed (%s); next try in %.1fs", message, self.next_sync - time.monotonic())

    def _index_vectors(self) -> None:
        """Embed new versions for the search index (text is indexed by each commit and
        fetch); a slow or down embedder only delays vectors, never a commit."""
        from promptvc import search
        from promptvc.embedders import load

        try:
            repo = self.open_repo
            if not self._embedder_loaded:
                self._embedder = load(repo.config)
                self._embedder_loaded = True
            if self._embedder is not None:
                search.index_text(repo, budget_s=5.0)
                search.index_vectors(repo, self._embedder, budget_s=5.0)
        except Exception as exc:  # noqa: BLE001 - vectors catch up at the next try
            log.warning("search vectors not updated: %s", getattr(exc, "message", exc))

    def _error(self, message: str) -> None:
        log.error("%s", message)
        self.state.errors = (self.state.errors + [f"{_now()} {message}"])[-10:]

    # -- state and metrics --------------------------------------------------------------------
    def _write_state(self) -> None:
        self.state.heartbeat = _now()
        path = self.pvc_dir / "daemon.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(asdict(self.state), indent=2))
        os.replace(tmp, path)

    def metrics_text(self) -> str:
        s = self.state
        lat = self.sync_latencies
        lines = [
            "# HELP pvc_sync_seconds Duration of sync rounds (pull + push).",
            "# TYPE pvc_sync_seconds summary",
            f"pvc_sync_seconds_sum {sum(lat):.6f}",
            f"pvc_sync_seconds_count {len(lat)}",
            "# HELP pvc_sync_last_seconds Duration of the last successful sync.",
            "# TYPE pvc_sync_last_seconds gauge",
            f"pvc_sync_last_seconds {s.last_sync_seconds or 0:.6f}",
            "# HELP pvc_sync_failures_total Failed sync rounds.",
            "# TYPE pvc_sync_failures_total counter",
            f"pvc_sync_failures_total {s.sync_failures}",
            "# HELP pvc_pending_commits Local commits not yet on the primary.",
            "# TYPE pvc_pending_commits gauge",
            f"pvc_pending_commits {s.pending_commits}",
            "# HELP pvc_commits_made_total Commits made by the daemon.",
            "# TYPE pvc_commits_made_total counter",
            f"pvc_commits_made_total {s.commits_made}",
            "# HELP pvc_up 1 while the last sync succeeded.",
            "# TYPE pvc_up gauge",
            f"pvc_up {1 if s.state == 'running' else 0}",
        ]
        return "\n".join(lines) + "\n"

    def _start_metrics(self, port: int) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        daemon = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server API
                if self.path.split("?")[0] != "/metrics":
                    self.send_error(404)
                    return
                body = daemon.metrics_text().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        server.daemon_threads = True
        self.metrics_server = server
        threading.Thread(target=server.serve_forever, name="pvc-metrics", daemon=True).start()


def read_state(pvc_dir: Path) -> dict | None:
    try:
        return json.loads((pvc_dir / "daemon.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def running_pid(pvc_dir: Path) -> int | None:
    """The pid of the daemon holding the lock, or None."""
    lock = DaemonLock(pvc_dir)
    if lock.acquire():
        lock.release()
        return None
    try:
        return int((pvc_dir / "daemon.pid").read_text().strip())
    except (FileNotFoundError, ValueError):
        return -1
