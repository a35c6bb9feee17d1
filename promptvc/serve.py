"""Serve prompts to applications: local reads, bounded staleness, experiments, outcomes.

    from promptvc.serve import PromptSource

    src = PromptSource.local("path/to/repo")                       # a pvc repository
    src = PromptSource.remote("http://localhost:8080", interval=2)  # a primary (token from
                                                                   # TURSO_AUTH_TOKEN)
    p = src.get("prompts/support.md", ref="production")            # .content .version .commit
    text = src.render("prompts/support.md", ref="production", name="Ada")
    msgs = src.render_messages("chat.prompty", ref="production", question="Hi")  # chat roles
    arm = src.assign("tone-test", user_id)
    p = src.get("prompts/support.md", experiment="tone-test", unit=user_id)
    src.record("tone-test", user_id, "thumbs_up", 1)

Reads never touch the network: they read a local database file read-only (the repository,
or an embedded replica of the primary kept fresh by a background thread that syncs it every
INTERVAL seconds in a child process with a hard deadline). `staleness()` says how old the
data may be. A remote source starts offline from its last synced state.

Outcome events go to an outbox file first (never lost offline) and are flushed to the
database that holds the experiments, idempotently (event ids are random UUIDs).

`PromptSource` is the one public interface; `PromptSource.local` gives a `LocalSource` (a
repository's own database file) and `PromptSource.remote` a `RemoteSource` (an embedded
replica of a primary, synced in the background). Both read through a `PromptReader`
(promptvc.reader).

Layer: a library front end for applications. It may import the store's read-only reader,
the remote's replica sync, Hrana client and retry loop (``calls.with_retries``),
experiments, prompts, search and (for a local source) promptvc.repo's find_root, all
lazily: an application that only reads pays for none of the rest. It never opens a Repo.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import ErrorCode, PvcError

if TYPE_CHECKING:
    from .experiments import Experiment
    from .prompts.render import Rendered
    from .prompts.sources import TreeSnapshot
    from .reader import PromptReader
    from .remote.remotes import Remote
    from .search import Hit
    from .store.readonly import Outbox


class ServeError(PvcError):
    error_code = ErrorCode.SERVE


class RenderError(ServeError):
    error_code = ErrorCode.RENDER


@dataclass(frozen=True)
class Prompt:
    path: str
    content: str
    version: str  # SHA-256 of the content
    commit: str
    ref: str
    arm: str | None = None
    stale_seconds: float | None = None


def render_text(text: str, path: str, variables: dict[str, object]) -> str:
    """Render TEXT as the prompt file PATH would be (no includes: there is no snapshot)."""
    from .prompts.formats import PromptError
    from .prompts.render import render_file

    try:
        return render_file(text.encode("utf-8"), path, dict(variables)).text
    except PromptError as exc:
        raise RenderError(exc.message, hint=exc.hint) from None


class _Db:
    """One database file read-only, with caches keyed by immutable ids."""

    def __init__(self, path: Path):
        from .objects import VersionReader
        from .store.readonly import ReadOnlyDb

        self.path = path
        self.db: PromptReader = ReadOnlyDb(path)
        self.versions = VersionReader(self.db, cache_size=512)
        self.trees: dict[str, dict[str, str]] = {}
        self.snapshots: dict[str, TreeSnapshot] = {}
        self.lock = threading.Lock()

    def read(self, refs: tuple[str, ...], path: str) -> tuple[str, str, bytes]:
        commit, vid, data, _snapshot = self.read_with_snapshot(refs, path)
        return commit, vid, data

    def version(self, vid: str) -> bytes:
        with self.lock:
            return self.versions.get(vid)

    def read_with_snapshot(self, refs: tuple[str, ...], path: str
                           ) -> tuple[str, str, bytes, TreeSnapshot]:
        """(commit, version id, content, the commit's files as a Snapshot for includes)."""
        from .objects import EMPTY_TREE, parse_manifest
        from .prompts.sources import TreeSnapshot

        with self.lock:
            hit = self.db.resolve(refs)
            if hit is None:
                raise ServeError(f"no ref {refs[0].split('/')[-1]!r} in {self.path.name}",
                                 hint="check the ref name, or sync the source")
            name, commit = hit
            tree_id = self.db.tree_id(commit)
            if tree_id is None:
                raise ServeError(f"commit {commit[:12]} is missing from {self.path.name}",
                                 hint="the replica is behind; wait for the next sync")
            tree = self.trees.get(tree_id)
            if tree is None:
                tree = {} if tree_id == EMPTY_TREE else parse_manifest(self.versions.get(tree_id))
                if len(self.trees) > 256:
                    self.trees.clear()
                self.trees[tree_id] = tree
            vid = tree.get(path)
            if vid is None:
                raise ServeError(f"prompt {path} does not exist at {name} ({commit[:8]})",
                                 hint="check the path")
            snapshot = self.snapshots.get(tree_id)
            if snapshot is None:
                if len(self.snapshots) > 256:
                    self.snapshots.clear()
                snapshot = self.snapshots[tree_id] = TreeSnapshot(tree, self.version, tree_id)
            return commit, vid, self.versions.get(vid), snapshot

    def close(self) -> None:
        self.db.close()


def _ref_names(ref: str) -> tuple[str, ...]:
    if ref.startswith("refs/"):
        return (ref,)
    return (f"refs/tags/{ref}", f"refs/heads/{ref}")


class PromptSource(ABC):
    """Where an application reads prompts from. Use :meth:`local` or :meth:`remote`.

    The reads, experiment arms and outcome queue are the same for both kinds of source;
    a subclass says how old its data is, which database an experiment branch is read
    from, and where queued outcome events go."""

    kind: str  # "local" or "remote"
    flush_on_record = False  # send each outcome event at once (else in the background)
    _main: _Db  # the main database: the repository's, or the primary's replica

    def __init__(self, outbox_path: Path, interval: float = 0.0):
        self._branch_dbs: dict[str, _Db] = {}
        self._experiments: dict[str, tuple[float, Experiment]] = {}
        self._outbox: Outbox | None = None
        self._outbox_path = outbox_path
        self.interval = interval
        self.last_sync: float | None = None
        self.last_error: str | None = None

    # -- constructors -------------------------------------------------------------------------
    @classmethod
    def local(cls, repo_path: str | os.PathLike) -> LocalSource:
        """A pvc repository's own database file (no server, never stale)."""
        return LocalSource(repo_path)

    @classmethod
    def remote(cls, url: str, *, token: str | None = None, token_env: str = "TURSO_AUTH_TOKEN",
               cache_dir: str | os.PathLike | None = None, interval: float = 2.0,
               timeout: float = 10.0, background: bool = True) -> RemoteSource:
        """A primary's embedded replica under CACHE_DIR (default: the user's cache folder),
        synced every INTERVAL seconds by a background thread."""
        return RemoteSource(url, token=token, token_env=token_env, cache_dir=cache_dir,
                            interval=interval, timeout=timeout, background=background)

    # -- what a kind of source decides ------------------------------------------------------------
    @abstractmethod
    def staleness(self) -> float | None:
        """Seconds the data may lag the primary (0 for a local repository; None if never
        synced)."""

    @abstractmethod
    def _db_for_branch(self, branch: str) -> _Db:
        """The database an experiment arm's BRANCH is read from."""

    @abstractmethod
    def _send(self, batch: list[tuple]) -> None:
        """Write a batch of outcome events to the database that holds the experiments."""

    # -- reads ----------------------------------------------------------------------------------
    def get(self, path: str, ref: str | None = "production", *, experiment: str | None = None,
            unit: str | None = None) -> Prompt:
        """The content of PATH at REF (a tag or branch), or at the experiment arm of UNIT."""
        db, where, arm = self._where(ref, experiment, unit)
        commit, vid, data = db.read(_ref_names(where), path)
        return Prompt(path, data.decode("utf-8"), vid, commit, where, arm, self.staleness())

    def render(self, path: str, ref: str | None = "production", *, experiment: str | None = None,
               unit: str | None = None, **variables: object) -> str:
        """PATH at REF rendered with VARIABLES (over the front matter's defaults); chat
        formats come back as `role:` blocks (see render_messages for the list)."""
        return self._render(path, ref, experiment, unit, variables).text

    def render_messages(self, path: str, ref: str | None = "production", *,
                        experiment: str | None = None, unit: str | None = None,
                        **variables: object) -> list[dict] | None:
        """The chat messages ({"role", "content"}) of a rendered prompt, or None when its
        format has no roles."""
        return self._render(path, ref, experiment, unit, variables).messages

    def _render(self, path: str, ref: str | None, experiment: str | None, unit: str | None,
                variables: dict[str, object]) -> Rendered:
        from .prompts.formats import PromptError
        from .prompts.render import render_file

        db, where = self._where(ref, experiment, unit)[:2]
        _commit, vid, data, snapshot = db.read_with_snapshot(_ref_names(where), path)
        try:  # includes come from the same commit: one consistent snapshot
            return render_file(data, path, variables, snapshot, key=vid)
        except PromptError as exc:
            raise RenderError(exc.message, hint=exc.hint) from None

    def _where(self, ref: str | None, experiment: str | None, unit: str | None
               ) -> tuple[_Db, str, str | None]:
        """(database, ref, arm) that a read of REF or of an experiment arm goes to."""
        arm = None
        db = self._main
        if experiment is not None:
            if unit is None:
                raise ServeError("get(..., experiment=...) needs unit=", hint="pass the unit id")
            exp = self._experiment(experiment)
            arm = self._assign(exp, unit)
            branch = exp.branch_of(arm)
            ref = f"refs/heads/{branch}"
            db = self._db_for_branch(branch)
        elif ref is None:
            ref = "refs/heads/main"
        return db, ref, arm

    def search(self, query: str, ref: str | None = "production", *, k: int = 10,
               all_versions: bool = False, embedder: object = "config",
               text_weight: float = 0.3, vector_weight: float = 0.7) -> list[Hit]:
        """Ranked prompts matching QUERY at REF (a tag or branch), or among every stored
        version: a list of :class:`promptvc.search.Hit` (path, version, commit, score,
        snippet). Reads the repository's search index read-only (pvc keeps it current on
        each commit, import and fetch; vectors come from `pvc search` or the daemon).
        EMBEDDER: "config" (the repository's search.embedder), None (full-text only), or
        an object with ``model`` and ``embed(texts)``."""
        raise ServeError("search() reads a local repository's search index",
                         hint="use PromptSource.local(path) for search")

    # -- experiments ------------------------------------------------------------------------------
    def _experiment(self, name: str) -> Experiment:
        from .experiments import Experiment

        cached = self._experiments.get(name)
        if cached and time.monotonic() - cached[0] < max(self.interval, 1.0):
            return cached[1]
        with self._main.lock:
            row = self._main.db.experiment(name)
        if row is None:
            raise ServeError(f"no experiment named '{name}'", hint="create it with "
                                                                   "`pvc experiment create`")
        exp = Experiment.from_row(row)
        self._experiments[name] = (time.monotonic(), exp)
        return exp

    def _assign(self, exp: Experiment, unit: str) -> str:
        from .experiments import assign

        if exp.state == "stopped" and exp.winner:
            return exp.winner
        return assign(exp.name, str(unit), [a for a, _ in exp.arms], exp.split)

    def assign(self, experiment: str, unit: str) -> str:
        """The arm of UNIT in EXPERIMENT (deterministic; the winner once promoted)."""
        return self._assign(self._experiment(experiment), unit)

    # -- outcomes ---------------------------------------------------------------------------------
    def _open_outbox(self) -> Outbox:
        from .store.readonly import Outbox

        if self._outbox is None:
            self._outbox = Outbox(self._outbox_path)
        return self._outbox

    def record(self, experiment: str, unit: str, metric: str, value: float = 1.0) -> str:
        """Append an outcome event (queued on disk; flushed in the background). Returns its id."""
        from .clock import now_iso

        exp = self._experiment(experiment)
        arm = self._assign(exp, unit)
        event = (uuid.uuid4().hex, experiment, str(unit), arm, metric, float(value), now_iso())
        self._open_outbox().add(event)
        if self.flush_on_record:
            self.flush()
        return event[0]

    def flush(self) -> int:
        """Send queued events to their database. Returns how many were sent."""
        if self._outbox is None and not self._outbox_path.exists():
            return 0
        outbox = self._open_outbox()
        sent = 0
        while True:
            batch = outbox.pending()
            if not batch:
                return sent
            self._send(batch)
            outbox.drop([e[0] for e in batch])
            sent += len(batch)

    def pending_events(self) -> int:
        if self._outbox is None and not self._outbox_path.exists():
            return 0
        return self._open_outbox().count()

    def close(self) -> None:
        try:
            self.flush()
        except PvcError:
            pass  # stays in the outbox for next time
        except Exception:  # noqa: BLE001
            pass
        if self._outbox is not None:
            self._outbox.close()
        for db in self._branch_dbs.values():
            db.close()
        self._main.close()

    def __enter__(self) -> PromptSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LocalSource(PromptSource):
    """A pvc repository's own database file, read-only: never stale; outcome events are
    written to the repository at once; the only source with search."""

    kind = "local"
    flush_on_record = True

    def __init__(self, repo_path: str | os.PathLike):
        from .repo import find_root

        root = find_root(Path(repo_path))
        if root is None:
            raise ServeError(f"not a pvc repository: {repo_path}", hint="run `pvc init` there")
        if os.environ.get("PVC_ENCRYPTION_KEY"):
            raise ServeError(f"the repository at {root} is encrypted at rest and cannot be served "
                             "read-only from its file", hint="serve from its remote with "
                                                             "PromptSource.remote(url)")
        super().__init__(root / ".pvc" / "outbox.db")
        self.root = root
        self._db_path = root / ".pvc" / "pvc.db"
        self._main = _Db(self._db_path)
        self._embedder: object = None
        self._embedder_loaded = False

    def staleness(self) -> float | None:
        return 0.0

    def _db_for_branch(self, branch: str) -> _Db:
        return self._main  # every branch is in the repository's one database

    def _send(self, batch: list[tuple]) -> None:
        from .store.readonly import write_events_local

        write_events_local(self._db_path, batch)

    def search(self, query: str, ref: str | None = "production", *, k: int = 10,
               all_versions: bool = False, embedder: object = "config",
               text_weight: float = 0.3, vector_weight: float = 0.7) -> list[Hit]:
        from .objects import EMPTY_TREE, parse_manifest
        from .search import rank

        if embedder == "config":
            if not self._embedder_loaded:
                from .config import Config
                from .embedders import load

                self._embedder = load(Config(self.root / ".pvc" / "config"))
                self._embedder_loaded = True
            embedder = self._embedder
        db = self._main
        with db.lock:
            ix = db.db.search_index()
            if not ix.exists():
                raise ServeError(f"{db.path.name} has no search index",
                                 hint="open the repository once with this pvc (e.g. `pvc search --status`)")
            scope: dict[str, str] | None = None
            commit = None
            if not all_versions:
                hit = db.db.resolve(_ref_names(ref or "refs/heads/main"))
                if hit is None:
                    raise ServeError(f"no ref {(ref or 'main')!r} in {db.path.name}",
                                     hint="check the ref name, or sync the source")
                commit = hit[1]
                tree_id = db.db.tree_id(commit)
                tree = {} if tree_id is None or tree_id == EMPTY_TREE else \
                    parse_manifest(db.versions.get(tree_id))
                scope = {}
                for path, vid in sorted(tree.items()):
                    scope.setdefault(vid, path)
            hits, _note = rank(ix, query, scope, k=k, text_of=db.versions.get, embedder=embedder,
                               text_weight=text_weight, vector_weight=vector_weight)
            if commit is not None:
                for h in hits:
                    h.commit, h.commits = commit, [commit]
            else:
                intro = ix.introducing_commits([h.version for h in hits])
                for h in hits:
                    h.commits = [c for c, _ in intro.get(h.version, [])]
                    h.commit = h.commits[0] if h.commits else None
        return hits

    search.__doc__ = PromptSource.search.__doc__


class RemoteSource(PromptSource):
    """An embedded replica of a primary (and of the branch databases that experiment arms
    read), synced every INTERVAL seconds in the background; outcome events are queued and
    sent to the primary by the same thread."""

    kind = "remote"

    def __init__(self, url: str, *, token: str | None = None,
                 token_env: str = "TURSO_AUTH_TOKEN",
                 cache_dir: str | os.PathLike | None = None, interval: float = 2.0,
                 timeout: float = 10.0, background: bool = True):
        from .remote.remotes import Remote, check_url

        check_url(url)
        base = Path(cache_dir) if cache_dir else Path(
            os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pvc" / "serve"
        cache = base / hashlib.sha256(url.encode()).hexdigest()[:16]
        cache.mkdir(parents=True, exist_ok=True)
        super().__init__(cache / "outbox.db", interval)
        self.url = url
        self._token = token if token is not None else os.environ.get(token_env)
        self.cache = cache
        self.timeout = timeout
        self._remote: Remote = Remote("origin", url, timeout=timeout)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        main = cache / "main.db"
        if not main.exists():
            self.sync()  # the first start needs the primary once
        else:
            self.last_sync = self._synced_at(main)
            stale = self.staleness()
            if stale is None or stale > interval:
                try:  # catch up at start, bounded by TIMEOUT; offline: serve what we have
                    self.sync()
                except ServeError as exc:
                    self.last_error = exc.message
        self._main = _Db(main)
        if background:
            self._thread = threading.Thread(target=self._run, name="pvc-serve-sync", daemon=True)
            self._thread.start()

    def staleness(self) -> float | None:
        if self.last_sync is None:
            return None
        return max(0.0, time.time() - self.last_sync)

    def _db_for_branch(self, branch: str) -> _Db:
        with self._main.lock:
            mapping = self._main.db.branch_dbs()
        entry = mapping.get(branch)
        if entry is None or entry[2] == "deleted":
            return self._main
        db_name = entry[0]
        db = self._branch_dbs.get(db_name)
        if db is None:
            from .remote.db_backends import check_db_name

            check_db_name(db_name)  # it becomes a file name
            path = self.cache / f"branch-{db_name}.db"
            if not path.exists():
                self._sync_one(path, entry[1])
            db = _Db(path)
            self._branch_dbs[db_name] = db
        return db

    def _send(self, batch: list[tuple]) -> None:
        """Send BATCH to the primary in one atomic Hrana batch. A transient failure (no
        answer, connection refused) is retried with backoff within TIMEOUT: the inserts are
        idempotent (each event has its own id), so a batch that did land is not doubled."""
        from .remote import hrana
        from .remote.calls import with_retries
        from .remote.transfer import SHARED_DDL
        from .store.readonly import EXPERIMENT_DDL, events_insert_sql

        statements = [(s, ()) for s in SHARED_DDL + EXPERIMENT_DDL] + events_insert_sql(batch)

        def attempt(remaining: float) -> None:
            with hrana.HranaClient(self._remote.http_url, auth_token=self._token,
                                   timeout=remaining) as client:
                client.batch(statements)

        with_retries(self._remote, self._remote.deadline(), attempt, "sending outcome events")

    # -- sync -------------------------------------------------------------------------------------
    def _synced_at(self, path: Path) -> float | None:
        stamp = Path(str(path) + ".synced")
        try:
            return stamp.stat().st_mtime
        except FileNotFoundError:
            return None

    def _sync_one(self, path: Path, url: str) -> None:
        from .remote.remotes import http_url
        from .remote.replica import ReplicaLock, SyncFailed, sync_replica

        lock = ReplicaLock(path)
        if not lock.acquire(0):  # another process of this machine is syncing it: share
            return
        try:
            from .remote.remotes import same_server

            # the token goes only to the server it was given for (a branch database row on
            # the primary could name any host)
            token = self._token if same_server(self.url, url) else None
            sync_replica(path, http_url(url), token, time.monotonic() + self.timeout,
                         lock=False)
        except SyncFailed as exc:
            raise ServeError(f"cannot sync prompts from {url}: {exc.message}",
                             hint="reads keep serving the last synced state") from None
        finally:
            lock.release()
        Path(str(path) + ".synced").touch()

    def sync(self) -> None:
        """Sync the main replica and the branch databases in use, now."""
        self._sync_one(self.cache / "main.db", self.url)
        for db_name, db in list(self._branch_dbs.items()):
            # branch databases are opened only once the main replica is
            with self._main.lock:
                mapping = self._main.db.branch_dbs()
            for _, (name, url, _state) in mapping.items():
                if name == db_name:
                    self._sync_one(db.path, url)
        self.last_sync = self._synced_at(self.cache / "main.db") or time.time()
        self._experiments.clear()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.sync()
                self.flush()
                self.last_error = None
            except PvcError as exc:
                self.last_error = exc.message
            except Exception as exc:  # noqa: BLE001 - the thread must survive
                self.last_error = f"{type(exc).__name__}: {exc}"

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.timeout + 5)
            self._thread = None
        super().close()
