"""push, fetch, pull and clone against a libSQL primary.

- **push** sends, in ONE atomic Hrana batch (one HTTP round trip), every object the primary
  may lack (versions, commits, change rows; `INSERT OR IGNORE`, ids are content hashes, so a
  replay is harmless) followed by a compare-and-swap of the remote branch. A stale branch
  makes the CAS step fail, the batch rolls back, and nothing of it remains.
- **fetch** syncs the embedded replica (`.pvc/remotes/NAME.db`) in a child process with a
  hard deadline, then copies the commits it lacks, read-only, from the replica file into
  the local database, checking every commit id and version hash on the way.
- Local commands never touch the network; a commit never needs the remote.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .. import refs as R
from ..errors import IntegrityError, RemoteError
from ..objects import commit_id
from ..store import ChangeRow, CommitRow, VersionRow
from ..store.team import TEAM_SETTINGS_DDL
from . import hrana
from .remotes import Remote
from .replica import ReplicaReader, SyncFailed, sync_replica

SHARED_DDL = [
    """CREATE TABLE IF NOT EXISTS versions (
        id TEXT PRIMARY KEY, kind TEXT NOT NULL, parent_version_id TEXT, parent2_version_id TEXT,
        path TEXT, storage TEXT NOT NULL, codec TEXT NOT NULL, data BLOB NOT NULL,
        size INTEGER NOT NULL, chain_len INTEGER NOT NULL, chain_bytes INTEGER NOT NULL,
        created_at TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS commits (
        id TEXT PRIMARY KEY, tree_id TEXT NOT NULL, parent1 TEXT, parent2 TEXT,
        author TEXT NOT NULL, committed_at TEXT NOT NULL, message TEXT NOT NULL,
        generation INTEGER NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS changes (
        commit_id TEXT NOT NULL, path TEXT NOT NULL, status TEXT NOT NULL, old_path TEXT,
        version_id TEXT, old_version_id TEXT, insertions INTEGER NOT NULL DEFAULT 0,
        deletions INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (commit_id, path))""",
    """CREATE TABLE IF NOT EXISTS refs (
        name TEXT PRIMARY KEY, target TEXT NOT NULL, updated_at TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS reflog (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, ref TEXT NOT NULL, old TEXT, new TEXT,
        who TEXT NOT NULL, at TEXT NOT NULL, action TEXT NOT NULL)""",
    "CREATE TABLE IF NOT EXISTS cas_guard (ok INTEGER NOT NULL)",
    """CREATE TABLE IF NOT EXISTS branch_dbs (
        branch TEXT PRIMARY KEY, db_name TEXT NOT NULL, url TEXT NOT NULL, parent TEXT,
        created_at TEXT NOT NULL, state TEXT NOT NULL)""",
    TEAM_SETTINGS_DDL,
    "CREATE INDEX IF NOT EXISTS changes_path ON changes(path)",
    "CREATE INDEX IF NOT EXISTS commits_parent1 ON commits(parent1)",
]

ROWS_PER_INSERT = 200


def replica_path(repo, remote: Remote, db_name: str | None = None) -> Path:
    """The replica file of REMOTE's main database, or of its branch database DB_NAME."""
    name = remote.name if db_name is None else f"{remote.name}@{db_name}"
    return repo.pvc_dir / "remotes" / f"{name}.db"


def branch_target(repo, remote: Remote, branch: str) -> tuple[Remote, str | None]:
    """Where BRANCH lives: (remote pointed at its database, branch db name or None)."""
    row = repo.store.branch_db(remote.name, branch)
    if row is not None and row.state != "deleted":
        return remote.for_database(row.url), row.db_name
    return remote, None


def _host(remote: Remote) -> str:
    from urllib.parse import urlsplit

    return urlsplit(remote.http_url).netloc


# -- errors and retries -----------------------------------------------------------------------
def _explain(remote: Remote, exc: Exception, what: str) -> RemoteError:
    host = _host(remote)
    if isinstance(exc, hrana.AuthError):
        return RemoteError(
            f"authentication failed for {host} while trying to {what}: {exc.message}",
            hint=f"set ${remote.token_env} to a valid token for this database "
                 "(or store one with `pvc remote login`)",
        )
    if isinstance(exc, hrana.RemoteTimeout):
        return RemoteError(
            f"no answer from {host} within {remote.timeout:g}s while trying to {what} "
            "(the server accepts connections but does not respond)",
            hint="check the server; your local commits are safe, run the command again later",
        )
    if isinstance(exc, hrana.ConnectError):
        reason = exc.message.split(": ", 1)[1] if exc.message.startswith("cannot reach ") \
            and ": " in exc.message else exc.message  # the client's text names the host too
        return RemoteError(
            f"cannot reach {host} while trying to {what}: {reason}",
            hint="check the URL and that the server is running; local commits are safe",
        )
    if isinstance(exc, hrana.NotFoundError):
        return RemoteError(f"the database at {remote.url} does not exist: {exc.message}",
                           hint="create it on the server, or fix the URL with `pvc remote`")
    return RemoteError(f"{what} failed at {host}: {exc}", hint="run the command again")


def with_retries(remote: Remote, deadline: float, fn: Callable[[float], object], what: str,
                 sleep=time.sleep):
    """Call FN(timeout) until it succeeds, retrying transient network errors with
    exponential backoff and jitter, never past DEADLINE (monotonic seconds)."""
    attempt = 0
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _explain(remote, hrana.RemoteTimeout("deadline passed"), what)
        try:
            return fn(remaining)
        except (hrana.ConnectError, hrana.RemoteTimeout) as exc:
            attempt += 1
            if attempt >= max(1, remote.retries):
                raise _explain(remote, exc, what) from None
            pause = remote.backoff * (2 ** (attempt - 1)) * random.uniform(0.5, 1.5)
            if time.monotonic() + pause >= deadline:
                raise _explain(remote, exc, what) from None
            sleep(pause)
        except hrana.HranaError as exc:
            raise _explain(remote, exc, what) from None


def run_batch(remote: Remote, statements: list[tuple[str, tuple]], what: str):
    """Run STATEMENTS on REMOTE as one atomic Hrana batch, retrying transient errors, never
    past the remote's timeout. Returns one result set per statement."""
    deadline = time.monotonic() + remote.timeout
    client = hrana.HranaClient(remote.http_url, auth_token=remote.token(), timeout=remote.timeout)

    def attempt(remaining: float):
        client.timeout = remaining
        return client.batch(statements)

    try:
        return with_retries(remote, deadline, attempt, what)
    finally:
        client.close()


# -- push ---------------------------------------------------------------------------------------
@dataclass
class PushResult:
    branch: str
    old: str | None
    new: str
    commits: int
    versions: int
    requests: int
    up_to_date: bool = False
    url: str = ""


def _insert_rows(table: str, cols: list[str], rows: list[tuple]) -> list[tuple[str, tuple]]:
    stmts = []
    marks = "(" + ",".join("?" for _ in cols) + ")"
    for i in range(0, len(rows), ROWS_PER_INSERT):
        chunk = rows[i:i + ROWS_PER_INSERT]
        sql = (f"INSERT OR IGNORE INTO {table} ({', '.join(cols)}) VALUES "
               + ",".join(marks for _ in chunk))
        args = tuple(v for row in chunk for v in row)
        stmts.append((sql, args))
    return stmts


VERSION_COLS = ["id", "kind", "parent_version_id", "parent2_version_id", "path", "storage",
                "codec", "data", "size", "chain_len", "chain_bytes", "created_at"]
COMMIT_COLS = ["id", "tree_id", "parent1", "parent2", "author", "committed_at", "message",
               "generation"]
CHANGE_COLS = ["commit_id", "path", "status", "old_path", "version_id", "old_version_id",
               "insertions", "deletions"]


def _object_statements(versions, commits, changes) -> list[tuple[str, tuple]]:
    """INSERT OR IGNORE statements for version, commit and change rows."""
    return (
        _insert_rows("versions", VERSION_COLS, [
            (v.id, v.kind, v.parent_version_id, v.parent2_version_id, v.path, v.storage,
             v.codec, bytes(v.data), v.size, v.chain_len, v.chain_bytes, v.created_at)
            for v in versions])
        + _insert_rows("commits", COMMIT_COLS, [
            (c.id, c.tree_id, c.parent1, c.parent2, c.author, c.committed_at, c.message,
             c.generation) for c in commits])
        + _insert_rows("changes", CHANGE_COLS, [
            (c.commit_id, c.path, c.status, c.old_path, c.version_id, c.old_version_id,
             c.insertions, c.deletions) for c in changes])
    )


def objects_to_push(repo, head: str, remote: Remote, reader: ReplicaReader,
                    known: list[str] | None = None):
    """Commits reachable from HEAD that the remote is not known to have, with the versions
    (and their diff bases) they need."""
    if known is None:
        known = [t for _, t in repo.store.list_refs(f"{R.REMOTES}{remote.name}/")]
    excluded = repo.store.ancestor_ids(known) if known else set()
    commits = [c for c in repo.store.ancestors([head]) if c.id not in excluded
               and not reader.has_commit(c.id)]
    commits.reverse()  # oldest first
    need: list[str] = []
    seen: set[str] = set()
    changes: list[ChangeRow] = []
    for c in commits:
        ids = [c.tree_id]
        rows = repo.store.changes_of(c.id)
        changes.extend(rows)
        ids += [r.version_id for r in rows if r.version_id]
        for vid in ids:
            while vid and vid not in seen:
                seen.add(vid)
                if reader.has_version(vid):
                    break
                row = repo.store.get_version_row(vid)
                if row is None:
                    raise IntegrityError(f"version {vid[:12]} needed by commit {c.id[:12]} is "
                                         "missing locally", hint="run `pvc fsck`")
                need.append(vid)
                vid = row.parent_version_id if row.storage == "diff" else None
    versions = [repo.store.get_version_row(v) for v in need]
    return commits, versions, changes


def push(repo, remote: Remote, branch: str | None = None, *, force_init: bool = False) -> PushResult:
    branch = branch or repo.current_branch()
    if branch:
        target, db_name = branch_target(repo, remote, branch)
        if db_name is not None:
            return _push(repo, target, branch, db_name, force_init)
    return _push(repo, remote, branch, None, force_init)


def _push(repo, remote: Remote, branch: str | None, db_name: str | None,
          force_init: bool, expected: str | None = None) -> PushResult:
    """EXPECTED: where the remote branch really is, when our tracking ref is behind it (a
    push of ours that landed but was not recorded: the process died after the request)."""
    if not branch:
        raise RemoteError("HEAD is not on a branch", hint="give the branch: pvc push origin NAME")
    local_ref = R.HEADS + branch
    head = repo.store.get_ref(local_ref)
    if head is None:
        raise RemoteError(f"branch '{branch}' has no commits to push",
                          hint="commit first, or name another branch")
    tracking_ref = f"{R.REMOTES}{remote.name}/{branch}"
    tracking = expected or repo.store.get_ref(tracking_ref)
    if tracking == head:
        return PushResult(branch, tracking, head, 0, 0, 0, up_to_date=True, url=remote.url)
    if tracking is not None and tracking not in repo.store.ancestor_ids([head]):
        raise _non_ff(remote, branch)
    reader = ReplicaReader(replica_path(repo, remote, db_name))
    try:
        if db_name is not None:  # a branch database knows only its own branch for sure,
            known = [tracking] if tracking else []  # and what it was forked from
            row = repo.store.branch_db(remote.name, branch)
            if not tracking and row is not None and row.parent:
                parent = repo.store.get_ref(f"{R.REMOTES}{remote.name}/{row.parent}")
                known += [parent] if parent else []
        else:
            mapped = {r.branch for r in repo.store.branch_dbs(remote.name) if r.state != "deleted"}
            known = [t for n, t in repo.store.list_refs(f"{R.REMOTES}{remote.name}/")
                     if n.rsplit("/", 1)[-1] not in mapped]
        commits, versions, changes = objects_to_push(repo, head, remote, reader, known)
    finally:
        reader.close()
    author = repo.author()
    from ..repo import now_iso

    at = now_iso()
    remote_ref = R.HEADS + branch
    stmts: list[tuple[str, tuple]] = []
    init_key = f"remote.initialized.{remote.url}"
    init = force_init or repo.store.get_state(init_key) != "1"
    if init:
        stmts += [(sql, ()) for sql in SHARED_DDL]
    stmts += _object_statements(versions, commits, changes)
    team_fp = None
    if db_name is None:  # the team's branch-database backend, for clones (remote/team.py)
        from .team import record_statements

        team_stmts, team_fp = record_statements(repo, remote)
        stmts += team_stmts
    cas_step = len(stmts)
    if tracking is None:
        stmts.append(("INSERT INTO refs (name, target, updated_at) VALUES (?, ?, ?)",
                      (remote_ref, head, at)))
    else:
        stmts.append(("UPDATE refs SET target = ?, updated_at = ? WHERE name = ? AND target = ?",
                      (head, at, remote_ref, tracking)))
        stmts.append(("INSERT INTO cas_guard (ok) VALUES (CASE WHEN changes() = 1 THEN 1 END)", ()))
        stmts.append(("DELETE FROM cas_guard", ()))
    stmts.append(("INSERT INTO reflog (ref, old, new, who, at, action) VALUES (?,?,?,?,?,?)",
                  (remote_ref, tracking, head, author, at, f"push: {len(commits)} commit(s)")))
    token = remote.token()
    deadline = time.monotonic() + remote.timeout
    client = hrana.HranaClient(remote.http_url, auth_token=token, timeout=remote.timeout)

    def attempt(remaining: float):
        client.timeout = remaining
        try:
            return client.batch(stmts)
        except hrana.StatementError as exc:
            if exc.step is not None and exc.step >= cas_step:
                # our CAS lost; maybe an earlier attempt of ours already succeeded
                client.timeout = max(1.0, deadline - time.monotonic())
                now = _remote_ref(client, remote_ref)
                if now == head:
                    return None
                if now is not None and now != tracking and now in repo.store.ancestor_ids([head]):
                    raise _BehindRemote(now) from None  # our own earlier push landed
                raise _non_ff(remote, branch) from None
            if "no such table" in exc.message and not init:
                raise _Uninitialized() from None
            raise

    try:
        with_retries(remote, deadline, attempt, f"push {branch}")
    except _Uninitialized:
        client.close()
        return _push(repo, remote, branch, db_name, True, expected)
    except _BehindRemote as behind:
        client.close()
        if expected is not None:
            raise _non_ff(remote, branch) from None
        return _push(repo, remote, branch, db_name, force_init, behind.target)
    finally:
        requests = client.requests
        client.close()
    with repo.store.transaction():
        if init:
            repo.store.set_state(init_key, "1")
        if team_fp is not None:
            from .team import remember_recorded

            remember_recorded(repo, remote, team_fp)
        current = repo.store.get_ref(tracking_ref)
        repo.store.cas_ref(tracking_ref, current, head, at=at)
        repo.store.append_reflog(tracking_ref, current, head, author, at, "update by push")
    return PushResult(branch, tracking, head, len(commits), len(versions), requests,
                      url=remote.url)


class _Uninitialized(Exception):
    pass


class _BehindRemote(Exception):
    def __init__(self, target: str):
        super().__init__(target)
        self.target = target


def _remote_ref(client: hrana.HranaClient, name: str) -> str | None:
    try:
        rs = client.execute("SELECT target FROM refs WHERE name = ?", (name,))
    except hrana.StatementError:
        return None
    return rs.rows[0][0] if rs.rows else None


def _non_ff(remote: Remote, branch: str) -> RemoteError:
    from ..errors import NonFastForward

    return NonFastForward(
        f"non-fast-forward: {remote.name}/{branch} has commits that your {branch} does not have; "
        "nothing was pushed",
        hint=f"run `pvc pull {remote.name} {branch}` first (it merges them), then push again",
    )


# -- fetch --------------------------------------------------------------------------------------
@dataclass
class FetchResult:
    updated: dict[str, tuple[str | None, str]] = field(default_factory=dict)
    commits: int = 0
    versions: int = 0
    seconds: float = 0.0


def sync(repo, remote: Remote, deadline: float | None = None,
         db_name: str | None = None) -> float:
    """Bring the replica up to date with the primary (bounded by DEADLINE)."""
    deadline = deadline or time.monotonic() + remote.timeout
    path = replica_path(repo, remote, db_name)
    token = remote.token()
    try:
        return sync_replica(path, remote.http_url, token, deadline).seconds
    except SyncFailed as exc:
        if exc.timed_out:
            if "being synced" in exc.message:
                raise RemoteError(exc.message, hint="wait for it, or stop the daemon") from None
            raise _explain(remote, hrana.RemoteTimeout("timed out"), "fetch") from None
        # find the real reason (sync hides auth failures behind a handshake timeout)
        probe = hrana.HranaClient(remote.http_url, auth_token=token,
                                  timeout=max(1.0, min(5.0, deadline - time.monotonic())))
        try:
            probe.execute("SELECT 1")
        except hrana.HranaError as perr:
            raise _explain(remote, perr, "fetch") from None
        finally:
            probe.close()
        raise RemoteError(f"fetch from {_host(remote)} failed: {exc.message}",
                          hint="run the command again") from None


def _sync_with_retries(repo, remote: Remote, deadline: float, db_name: str | None) -> None:
    attempt = 0
    while True:
        try:
            sync(repo, remote, deadline, db_name)
            return
        except RemoteError as exc:
            attempt += 1
            transient = exc.message.startswith(("cannot reach", "no answer"))
            pause = remote.backoff * (2 ** (attempt - 1)) * random.uniform(0.5, 1.5)
            if (not transient or attempt >= max(1, remote.retries)
                    or time.monotonic() + pause >= deadline):
                raise
            time.sleep(pause)


def fetch(repo, remote: Remote, *, do_sync: bool = True,
          branches: list[str] | None = None) -> FetchResult:
    """Sync the replicas and import what they have that we lack.

    The main database gives the unmapped branches and the branch -> database mapping; each
    branch database gives its own branch. BRANCHES limits which branch databases are synced
    (the main database always is)."""
    result = FetchResult()
    started = time.monotonic()
    deadline = time.monotonic() + remote.timeout
    if do_sync:
        _sync_with_retries(repo, remote, deadline, None)
    main = ReplicaReader(replica_path(repo, remote))
    try:
        from .team import adopt

        adopt(repo.config, remote.name, main.team_settings())
        mapping = main.branch_dbs()
        sources: list[tuple[ReplicaReader, dict[str, str]]] = []
        main_refs = {k: v for k, v in main.refs(R.HEADS).items()
                     if k[len(R.HEADS):] not in mapping
                     or mapping[k[len(R.HEADS):]]["state"] == "deleted"}
        sources.append((main, main_refs))
        tags = main.refs(R.TAGS)
        sources.append((main, tags))  # tag targets' history comes along
        readers = []
        for branch, row in sorted(mapping.items()):
            if row["state"] == "deleted":
                continue
            path = replica_path(repo, remote, row["db_name"])
            if do_sync and (branches is None or branch in branches):
                _sync_with_retries(repo, remote.for_database(row["url"]), deadline, row["db_name"])
            reader = ReplicaReader(path)
            readers.append(reader)
            ref = reader.refs(R.HEADS).get(R.HEADS + branch)
            if ref:
                sources.append((reader, {R.HEADS + branch: ref}))
        try:
            _import(repo, remote, sources, mapping, result)
        finally:
            for r in readers:
                r.close()
    finally:
        main.close()
    result.seconds = time.monotonic() - started
    return result


def _import(repo, remote: Remote, sources, mapping: dict[str, dict], result: FetchResult) -> None:
    new_commits: list[tuple] = []
    versions: dict[str, tuple] = {}
    changes: list[tuple] = []
    seen: set[str] = set()
    remote_refs: dict[str, str] = {}
    for reader, refs in sources:
        remote_refs.update(refs)
        for target in refs.values():
            stack = [target]
            while stack:
                cid = stack.pop()
                if cid in seen or repo.store.get_commit(cid) is not None:
                    continue
                seen.add(cid)
                row = reader.commit(cid)
                if row is None:
                    raise IntegrityError(f"the remote names commit {cid[:12]} but does not have it",
                                         hint="the remote database is damaged; ask its owner")
                if commit_id(row[1], tuple(p for p in (row[2], row[3]) if p), row[4], row[5],
                             row[6]) != cid:
                    raise IntegrityError(
                        f"commit {cid[:12]} from {remote.name} does not match its id",
                        hint="the remote database is damaged; nothing was fetched")
                new_commits.append(row)
                stack.extend(p for p in (row[2], row[3]) if p)
                chs = reader.changes(cid)
                changes.extend(chs)
                for vid in [row[1]] + [c[4] for c in chs if c[4]]:
                    while vid and vid not in versions and not repo.store.has_version(vid):
                        v = reader.version(vid)
                        if v is None:
                            raise IntegrityError(f"version {vid[:12]} is missing on {remote.name}",
                                                 hint="the remote database is damaged")
                        versions[vid] = v
                        vid = v[2] if v[5] == "diff" else None
    author = repo.author()
    from ..repo import now_iso
    from ..store import BranchDbRow

    at = now_iso()
    with repo.store.transaction():
        for v in versions.values():
            repo.store.insert_version(VersionRow(*v[:7], bytes(v[7]), *v[8:]))
        for row in new_commits:
            repo.store.insert_commit(CommitRow(*row))
        repo.store.insert_changes(ChangeRow(*c) for c in changes)
        # every new version must rebuild to its hash before anything points at it
        for vid in versions:
            repo.versions.get(vid)
        for branch, m in mapping.items():
            repo.store.put_branch_db(BranchDbRow(remote.name, branch, m["db_name"], m["url"],
                                                 m["parent"], m["created_at"], m["state"]))
        prefix = f"{R.REMOTES}{remote.name}/"
        for name, target in remote_refs.items():
            if name.startswith(R.TAGS):
                # a tag we do not have is created; one the remote moved (a promotion) moves
                # here too, unless it was moved here since the last fetch (ours wins)
                seen_key = f"fetched.{remote.name}.{name}"
                local, seen = repo.store.get_ref(name), repo.store.get_state(seen_key)
                if repo.store.get_commit(target) and local != target and (
                        local is None or local == seen):
                    repo.store.cas_ref(name, local, target, at=at)
                    repo.store.append_reflog(name, local, target, author, at,
                                             f"fetch: tag {'moved' if local else 'created'} "
                                             f"on {remote.name}")
                repo.store.set_state(seen_key, target)
                continue
            short = name[len(R.HEADS):]
            local = prefix + short
            old = repo.store.get_ref(local)
            if old == target:
                continue
            repo.store.cas_ref(local, old, target, at=at)
            repo.store.append_reflog(local, old, target, author, at,
                                     "fetch: created" if old is None else "fetch: updated")
            result.updated[short] = (old, target)
        for name, target in repo.store.list_refs(prefix):
            if R.HEADS + name[len(prefix):] not in remote_refs:  # a branch gone from the remote
                repo.store.cas_ref(name, target, None, at=at)
                repo.store.append_reflog(name, target, None, author, at, "fetch: pruned")
    result.commits = len(new_commits)
    result.versions = len(versions)


def remote_branches(repo, remote: Remote) -> dict[str, str]:
    reader = ReplicaReader(replica_path(repo, remote))
    try:
        return {k[len(R.HEADS):]: v for k, v in reader.refs(R.HEADS).items()}
    finally:
        reader.close()


# -- pull and clone -----------------------------------------------------------------------------
@dataclass
class PullResult:
    fetch: FetchResult
    outcome: str  # up-to-date | fast-forward | merged | conflicts | created
    merge: object | None = None


def pull(repo, remote: Remote, branch: str | None = None, *,
         write_conflicts: bool = True) -> PullResult:
    branch = branch or repo.current_branch()
    if not branch:
        raise RemoteError("HEAD is not on a branch", hint="switch to a branch first")
    if repo.store.get_state("MERGE_HEAD"):
        raise RemoteError("a merge is in progress",
                          hint="finish it with `pvc merge --continue` or `pvc merge --abort`")
    fr = fetch(repo, remote, branches=[branch])
    tracking = repo.store.get_ref(f"{R.REMOTES}{remote.name}/{branch}")
    if tracking is None:
        raise RemoteError(f"{remote.name} has no branch '{branch}'",
                          hint=f"push it with `pvc push {remote.name} {branch}`")
    if repo.current_branch() == branch and repo.head() is None:
        with repo.store.transaction():
            changes, head_tree = repo.working_changes()
            repo._checkout(head_tree, repo.tree(tracking), changes, what="pull")
            repo.move_ref(R.HEADS + branch, None, tracking, f"pull: from {remote.name}")
        return PullResult(fr, "created")
    if repo.current_branch() != branch:
        local = repo.store.get_ref(R.HEADS + branch)
        if local is None or local in repo.store.ancestor_ids([tracking]):
            repo.move_ref(R.HEADS + branch, local, tracking, f"pull: fast-forward from {remote.name}")
            return PullResult(fr, "fast-forward")
        raise RemoteError(f"'{branch}' is not the current branch and cannot be fast-forwarded",
                          hint=f"switch to it and pull again: `pvc switch {branch}`")
    out = repo.merge(f"{remote.name}/{branch}",
                     message=f"Merge {remote.name}/{branch} into {branch}",
                     write_conflicts=write_conflicts)
    return PullResult(fr, out.kind, out)


def clone(url: str, directory: Path, *, name: str = "origin", token_env: str | None = None,
          branch: str | None = None):
    """Create DIRECTORY as a new repository with remote NAME and its history."""
    from ..repo import Repo
    from .remotes import add_remote

    if directory.exists() and any(directory.iterdir()):
        raise RemoteError(f"destination '{directory}' already exists and is not empty",
                          hint="choose a new folder")
    created = not directory.exists()
    repo = Repo.init(directory)
    try:
        remote = add_remote(repo.config, name, url, token_env)
        fr = fetch(repo, remote)
        branches = {n[len(name) + 1:]: t for n, t in repo.remote_branches() if n.startswith(name + "/")}
        chosen = branch or ("main" if "main" in branches else (sorted(branches)[0] if branches else None))
        if chosen is not None:
            if chosen not in branches:
                raise RemoteError(f"{name} has no branch '{chosen}'",
                                  hint="branches: " + ", ".join(sorted(branches)))
            with repo.store.transaction():
                repo.store.set_state("HEAD", R.HEADS + chosen)
                repo.move_ref(R.HEADS + chosen, None, branches[chosen], f"clone: from {url}")
                repo._checkout({}, repo.tree(branches[chosen]), [], what="clone")
        return repo, fr, chosen
    except BaseException:
        repo.close()
        import shutil

        if created:
            shutil.rmtree(directory, ignore_errors=True)
        else:
            shutil.rmtree(directory / ".pvc", ignore_errors=True)
        raise


# -- tags ---------------------------------------------------------------------------------------
def push_tags(repo, remote: Remote, names: list[str] | None = None) -> list[str]:
    """Publish tags (labels such as `production`) on the main database, moving them there as
    they are here (tags are labels: the local move is the authority). One atomic request.
    Returns the tags that were created or moved there (not those already in place)."""
    tags = dict(repo.tags())
    chosen = sorted(tags) if names is None else names
    for n in chosen:
        if n not in tags:
            raise RemoteError(f"tag '{n}' not found", hint="see `pvc tag`")
    if not chosen:
        return []
    reader = ReplicaReader(replica_path(repo, remote))
    try:
        commits, versions, changes = [], [], []
        seen_c: set[str] = set()
        for n in chosen:
            c, v, ch = objects_to_push(repo, tags[n], remote, reader)
            for row in c:
                if row.id not in seen_c:
                    seen_c.add(row.id)
                    commits.append(row)
            versions += v
            changes += ch
    finally:
        reader.close()
    uniq = {v.id: v for v in versions}
    from ..repo import now_iso

    at = now_iso()
    author = repo.author()
    stmts = [(sql, ()) for sql in SHARED_DDL]
    before_step = len(stmts)  # where the tags were on the primary before this batch
    marks = ", ".join("?" for _ in chosen)
    stmts.append((f"SELECT name, target FROM refs WHERE name IN ({marks})",
                  tuple(R.TAGS + n for n in chosen)))
    stmts += _object_statements(list(uniq.values()), commits, changes)
    for n in chosen:
        ref = R.TAGS + n
        stmts.append(("INSERT INTO reflog (ref, old, new, who, at, action) SELECT ?, "
                      "(SELECT target FROM refs WHERE name = ?), ?, ?, ?, ? "
                      "WHERE coalesce((SELECT target FROM refs WHERE name = ?), '') != ?",
                      (ref, ref, tags[n], author, at, "push: tag", ref, tags[n])))
        stmts.append(("INSERT INTO refs (name, target, updated_at) VALUES (?, ?, ?) "
                      "ON CONFLICT(name) DO UPDATE SET target = excluded.target, "
                      "updated_at = excluded.updated_at", (ref, tags[n], at)))
    results = run_batch(remote, stmts, "push tags")
    before: dict[str, str] = {}
    try:
        before = {str(name): str(target) for name, target in results[before_step].rows}
    except (TypeError, IndexError, AttributeError, ValueError):
        before = {}  # an answer without rows: report every tag as published
    return [n for n in chosen if before.get(R.TAGS + n) != tags[n]]
