"""push, fetch, pull and clone against a libSQL primary.

- **push** sends, in ONE atomic Hrana batch (one HTTP round trip), every object the primary
  may lack (versions, commits, change rows; `INSERT OR IGNORE`, ids are content hashes, so a
  replay is harmless) followed by a compare-and-swap of the remote branch. A stale branch
  makes the CAS step fail, the batch rolls back, and nothing of it remains. A large push
  (more than ``BATCH_COMMITS`` commits or ``BATCH_BYTES`` of data) sends its objects in
  several atomic batches, oldest commits first, with the CAS only in the last one; the
  local state records the newest commit of each batch that landed, so a push that was
  interrupted resumes after it (checked on the primary first).
- **fetch** syncs the embedded replica (`.pvc/remotes/NAME.db`) in a child process with a
  hard deadline, then copies the commits it lacks, read-only, from the replica file into
  the local database, checking every commit id and version hash on the way.
- Local commands never touch the network; a commit never needs the remote.
"""

from __future__ import annotations

import random
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .. import refs as R
from ..errors import ErrorCode, IntegrityError, RemoteError
from ..history import is_ancestor, walk
from ..objects import commit_id, parse_manifest
from ..paths import check_path
from ..store import ChangeRow, CommitRow, VersionRow, parents_first, spec
from ..store.team import TEAM_SETTINGS_DDL
from . import hrana
from .db_backends import check_db_name
from .remotes import Remote
from .replica import ReplicaReader, SyncFailed, sync_replica

# the primary's schema, from the one specification in promptvc/store/spec.py: it creates a
# format-2 primary, confirms one, and refuses (FORMAT1_CHECK) a format-1 primary
SHARED_DDL = spec.primary_ddl() + [TEAM_SETTINGS_DDL]
_DDL = set(SHARED_DDL) | set(spec.experiment_ddl())


def announced(statements: list[tuple[str, tuple]]) -> list[tuple[str, tuple]]:
    """STATEMENTS as a format-2 writer sends them: after the leading DDL, the writer's
    announcement (checked by the primary against its format); its row removed at the end."""
    i = 0
    while i < len(statements) and statements[i][0] in _DDL:
        i += 1
    return statements[:i] + [spec.writer_announce()] + statements[i:] + [spec.WRITER_DONE]


def format_error(remote: Remote, exc: Exception) -> RemoteError | None:
    """The clear error for a batch the primary refused because of its format, or None."""
    from .upgrade import newer_format_error, older_format_error

    if not isinstance(exc, hrana.StatementError):
        return None
    if spec.NEW_FORMAT_MESSAGE in exc.message:
        from .upgrade import read_format

        try:  # name what the primary has, when it says
            return newer_format_error(remote, read_format(remote))
        except (RemoteError, hrana.HranaError):
            return newer_format_error(remote)
    if spec.OLD_WRITER_MESSAGE in exc.message:  # cannot happen for us: we announce ourselves
        return older_format_error(remote)
    if "no such table: pvc_writer" in exc.message or (
            exc.step == 1 and "cas_guard" in exc.message and exc.sql == spec.FORMAT1_CHECK[1]):
        return older_format_error(remote)
    return None

ROWS_PER_INSERT = 200


def replica_path(repo, remote: Remote, db_name: str | None = None) -> Path:
    """The replica file of REMOTE's main database, or of its branch database DB_NAME."""
    if db_name is not None:
        check_db_name(db_name, remote.name)
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
    refused = format_error(remote, exc)
    if refused is not None:
        return refused
    if isinstance(exc, hrana.AuthError):
        return RemoteError(
            f"authentication failed for {host} while trying to {what}: {exc.message}",
            error_code=ErrorCode.AUTH,
            hint=f"set ${remote.token_env} to a valid token for this database "
                 "(or store one with `pvc remote login`)",
        )
    if isinstance(exc, hrana.RemoteTimeout):
        return RemoteError(
            f"no answer from {host} within {remote.timeout:g}s while trying to {what} "
            "(the server accepts connections but does not respond)",
            error_code=ErrorCode.TIMEOUT,
            hint="check the server; your local commits are safe, run the command again later",
        )
    if isinstance(exc, hrana.ConnectError):
        return RemoteError(
            f"cannot reach {host} while trying to {what}: {exc.reason}",
            error_code=ErrorCode.UNREACHABLE,
            hint="check the URL and that the server is running; local commits are safe",
        )
    if isinstance(exc, hrana.NotFoundError):
        return RemoteError(f"the database at {remote.url} does not exist: {exc.message}",
                           hint="create it on the server, or fix the URL with `pvc remote`",
                           error_code=ErrorCode.NOT_FOUND)
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
    past the remote's timeout. Returns one result set per statement of STATEMENTS (the
    writer's announcement that `announced` adds is not among them)."""
    deadline = remote.deadline()
    client = hrana.HranaClient(remote.http_url, auth_token=remote.token(), timeout=remote.timeout)

    sent = announced(statements)
    at = sent.index(spec.writer_announce())  # where the announcement stands

    def attempt(remaining: float):
        client.timeout = remaining
        return client.batch(sent)

    try:
        results = with_retries(remote, deadline, attempt, what)
    finally:
        client.close()
    return results[:at] + results[at + 1:-1] if results else results


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
    resumed: bool = False  # an interrupted earlier push was continued


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


VERSION_COLS = list(spec.columns("versions", "primary"))
COMMIT_COLS = list(spec.columns("commits", "primary"))
CHANGE_COLS = list(spec.columns("changes", "primary"))


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
    commits = [c for c in walk(repo.store, [head], known or [])  # stops at what is known
               if not reader.has_commit(c.id)]
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


def push(repo, remote: Remote, branch: str | None = None, *, force_init: bool = False,
         reseed: bool = False,
         progress: Callable[[int, int | None], None] | None = None) -> PushResult:
    """Push BRANCH (default: the current one). A large push goes as several batches;
    PROGRESS(commits sent, None) is called after each batch but the last. RESEED: the
    primary lost its data (PrimaryLost); send the whole history of BRANCH as if the primary
    were new, without trusting the (stale) replica."""
    branch = branch or repo.current_branch()
    if branch:
        target, db_name = branch_target(repo, remote, branch)
        if db_name is not None:
            if reseed:  # its database was re-created (branches.reseed_branch_dbs)
                from .replica import remove_replica

                remove_replica(replica_path(repo, remote, db_name))
                with repo.store.transaction():
                    repo.store.set_state(f"remote.initialized.{target.url}", None)
                return _push(repo, target, branch, db_name, True, reseed=True,
                             progress=progress)
            return _push(repo, target, branch, db_name, force_init, progress=progress)
    if reseed:
        from .replica import remove_replica

        remove_replica(replica_path(repo, remote))  # its old frames would hide the new data
        with repo.store.transaction():
            for name, _ in repo.tags():
                repo.store.set_state(f"fetched.{remote.name}.{R.TAGS + name}", None)
            repo.store.set_state(f"remote.initialized.{remote.url}", None)
            from .team import forget_recorded

            forget_recorded(repo, remote)  # the team settings went with the data
        return _push(repo, remote, branch, None, True, reseed=True, progress=progress)
    return _push(repo, remote, branch, None, force_init, progress=progress)


class PrimaryLost(RemoteError):
    """The primary has neither the branch head this clone last saw there nor its commit."""


class _NoReplica:
    """A replica that knows nothing (re-seeding must not trust the old one)."""

    def has_commit(self, cid: str) -> bool:
        return False

    def has_version(self, vid: str) -> bool:
        return False

    def close(self) -> None:
        pass


def _push(repo, remote: Remote, branch: str | None, db_name: str | None,
          force_init: bool, expected: str | None = None, reseed: bool = False,
          progress=None) -> PushResult:
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
    if reseed:
        tracking = None
    if tracking == head and not reseed:
        return PushResult(branch, tracking, head, 0, 0, 0, up_to_date=True, url=remote.url)
    if tracking is not None and not is_ancestor(repo.store, tracking, head):
        raise _non_ff(remote, branch)
    reader = _NoReplica() if reseed else ReplicaReader(replica_path(repo, remote, db_name))
    token = remote.token()
    deadline = remote.deadline()  # one deadline per command (a batch that lands renews it)
    client = hrana.HranaClient(remote.http_url, auth_token=token, timeout=remote.timeout)
    progress_key = f"push.progress.{remote.url}.{branch}"
    author = repo.author()
    from ..clock import now_iso

    at = now_iso()
    remote_ref = R.HEADS + branch
    init_key = f"remote.initialized.{remote.url}"
    init = force_init or repo.store.get_state(init_key) != "1"
    sent = [0, 0]  # commits, versions sent by this run
    try:
        if reseed:
            known: list[str] = []
        elif db_name is not None:  # a branch database knows only its own branch for sure,
            known = [tracking] if tracking else []  # and what it was forked from
            row = repo.store.branch_db(remote.name, branch)
            if not tracking and row is not None and row.parent:
                parent = repo.store.get_ref(f"{R.REMOTES}{remote.name}/{row.parent}")
                known += [parent] if parent else []
        else:
            mapped = {r.branch for r in repo.store.branch_dbs(remote.name) if r.state != "deleted"}
            known = [t for n, t in repo.store.list_refs(f"{R.REMOTES}{remote.name}/")
                     if n.rsplit("/", 1)[-1] not in mapped]
        # an earlier push of this branch that stopped between batches: what it sent is there
        resume = repo.store.get_state(progress_key)
        if resume and resume != head and is_ancestor(repo.store, resume, head) \
                and _remote_has_commit(remote, client, deadline, resume):
            known.append(resume)
        else:
            resume = None
        batches = push_batches(repo, head, reader, known, *_batch_limits())
        pending = next(batches)
        for following in batches:  # every batch but the last: objects only, no ref moves
            init = _send_objects(remote, client, deadline, pending, init, branch)
            sent[0] += len(pending.commits)
            sent[1] += len(pending.versions)
            with repo.store.transaction():
                if init:
                    repo.store.set_state(init_key, "1")
                    init = False
                repo.store.set_state(progress_key, pending.commits[-1].id)
            if progress is not None:
                progress(sent[0], None)
            deadline = time.monotonic() + remote.timeout
            pending = following
    except BaseException:
        client.close()
        raise
    finally:
        reader.close()
    commits, versions, changes = pending.commits, pending.versions, pending.changes
    total = sent[0] + len(commits)
    stmts: list[tuple[str, tuple]] = []
    if init:
        stmts += [(sql, ()) for sql in SHARED_DDL]
    stmts.append(spec.writer_announce())
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
                  (remote_ref, tracking, head, author, at, f"push: {total} commit(s)")))
    stmts.append(spec.WRITER_DONE)

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
                if now is not None and now != tracking and is_ancestor(repo.store, now, head):
                    raise _BehindRemote(now) from None  # our own earlier push landed
                if now is None and tracking is not None and not _has_commit(client, tracking):
                    raise PrimaryLost(
                        f"{remote.name} no longer has {branch}, nor commit {tracking[:12]} where "
                        "this clone last saw it: the primary has lost its data (re-created or "
                        "restored empty); nothing was pushed",
                        hint="re-seed it from this clone's history with `pvc push --reseed` "
                             "(then `pvc push --reseed --tags` for the labels)") from None
                raise _non_ff(remote, branch) from None
            if "no such table" in exc.message and not init:
                raise _Uninitialized() from None
            refused = format_error(remote, exc)
            if refused is not None:
                raise refused from None
            raise

    try:
        with_retries(remote, deadline, attempt, f"push {branch}")
    except _Uninitialized:
        client.close()
        return _push(repo, remote, branch, db_name, True, expected, reseed=reseed, progress=progress)
    except _BehindRemote as behind:
        client.close()
        if expected is not None:
            raise _non_ff(remote, branch) from None
        return _push(repo, remote, branch, db_name, force_init, behind.target, reseed=reseed,
                     progress=progress)
    finally:
        requests = client.requests
        client.close()
    with repo.store.transaction():
        if init:
            repo.store.set_state(init_key, "1")
        repo.store.set_state(progress_key, None)
        if team_fp is not None:
            from .team import remember_recorded

            remember_recorded(repo, remote, team_fp)
        current = repo.store.get_ref(tracking_ref)
        repo.store.cas_ref(tracking_ref, current, head, at=at)
        repo.store.append_reflog(tracking_ref, current, head, author, at, "update by push")
    return PushResult(branch, tracking, head, total, sent[1] + len(versions), requests,
                      url=remote.url, resumed=resume is not None)


# -- batches of a large push ---------------------------------------------------------------------
#: a push of more than this is split into several atomic requests: objects first (INSERT OR
#: IGNORE, so a repeated batch is harmless), the branch's compare-and-swap in the last one
BATCH_COMMITS = 1000
BATCH_BYTES = 8 * 2**20


def _batch_limits() -> tuple[int, int]:
    """(commits, stored bytes) per batch; PVC_PUSH_BATCH_COMMITS overrides the first."""
    import os

    try:
        commits = int(os.environ.get("PVC_PUSH_BATCH_COMMITS", BATCH_COMMITS))
    except ValueError:
        commits = BATCH_COMMITS
    return max(1, commits), BATCH_BYTES


@dataclass
class PushBatch:
    commits: list[CommitRow] = field(default_factory=list)
    versions: list[VersionRow] = field(default_factory=list)
    changes: list[ChangeRow] = field(default_factory=list)
    bytes: int = 0


def push_batches(repo, head: str, reader: ReplicaReader, known: list[str],
                 max_commits: int = BATCH_COMMITS, max_bytes: int = BATCH_BYTES):
    """The commits reachable from HEAD and not from KNOWN that the replica lacks, oldest
    first, with the versions (and diff bases) they need, in batches of at most MAX_COMMITS
    commits or about MAX_BYTES of stored data. Every batch holds everything its commits need
    that earlier batches and the remote do not: after any prefix of batches, the primary
    has complete commits. Always yields at least one (possibly empty) batch."""
    ids = [c.id for c in walk(repo.store, [head], known)]  # newest first; ids only
    ids.reverse()
    seen: set[str] = set()
    batch = PushBatch()
    for cid in ids:
        if reader.has_commit(cid):
            continue
        c = repo.store.get_commit(cid)
        rows = repo.store.changes_of(cid)
        for vid in [c.tree_id] + [r.version_id for r in rows if r.version_id]:
            while vid and vid not in seen:
                seen.add(vid)
                if reader.has_version(vid):
                    break
                row = repo.store.get_version_row(vid)
                if row is None:
                    raise IntegrityError(f"version {vid[:12]} needed by commit {cid[:12]} is "
                                         "missing locally", hint="run `pvc fsck`")
                batch.versions.append(row)
                batch.bytes += len(row.data)
                vid = row.parent_version_id if row.storage == "diff" else None
        batch.commits.append(c)
        batch.changes.extend(rows)
        if len(batch.commits) >= max_commits or batch.bytes >= max_bytes:
            yield batch
            batch = PushBatch()
    yield batch


def _send_objects(remote: Remote, client: hrana.HranaClient, deadline: float, batch: PushBatch,
                  init: bool, branch: str) -> bool:
    """Send one batch of objects (atomic; retried). Returns whether the primary still needs
    its tables created (False once this batch created them)."""
    stmts = [(sql, ()) for sql in SHARED_DDL] if init else []
    stmts.append(spec.writer_announce())
    stmts += _object_statements(batch.versions, batch.commits, batch.changes)
    stmts.append(spec.WRITER_DONE)

    def attempt(remaining: float):
        client.timeout = remaining
        return client.batch(stmts)

    try:
        with_retries(remote, deadline, attempt, f"push {branch}")
    except RemoteError as exc:
        if init or "no such table" not in exc.message:
            raise
        return _send_objects(remote, client, deadline, batch, True, branch)
    return False


def _remote_has_commit(remote: Remote, client: hrana.HranaClient, deadline: float,
                       cid: str) -> bool:
    def attempt(remaining: float):
        client.timeout = remaining
        try:
            return bool(client.execute("SELECT 1 FROM commits WHERE id = ?", (cid,)).rows)
        except hrana.StatementError:
            return False

    return bool(with_retries(remote, deadline, attempt, "check an interrupted push"))


class _Uninitialized(Exception):
    pass


class _BehindRemote(Exception):
    def __init__(self, target: str):
        super().__init__(target)
        self.target = target


def _has_commit(client: hrana.HranaClient, cid: str) -> bool:
    try:
        rs = client.execute("SELECT count(*) FROM commits WHERE id = ?", (cid,))
    except hrana.StatementError:
        return False
    return bool(rs.rows and rs.rows[0][0])


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
        error_code=ErrorCode.NON_FAST_FORWARD,
    )


# -- fetch --------------------------------------------------------------------------------------
@dataclass
class FetchResult:
    updated: dict[str, tuple[str | None, str]] = field(default_factory=dict)
    pruned: list[str] = field(default_factory=list)  # branches deleted on the remote
    commits: int = 0
    versions: int = 0
    seconds: float = 0.0


def sync(repo, remote: Remote, deadline: float | None = None,
         db_name: str | None = None) -> float:
    """Bring the replica up to date with the primary (bounded by DEADLINE)."""
    deadline = deadline or remote.deadline()
    path = replica_path(repo, remote, db_name)
    token = remote.token()
    try:
        return sync_replica(path, remote.http_url, token, deadline).seconds
    except SyncFailed as exc:
        if exc.timed_out:
            if exc.error_code is ErrorCode.BUSY:
                raise RemoteError(exc.message, hint="wait for it, or stop the daemon",
                                  error_code=ErrorCode.BUSY) from None
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
            transient = exc.transient
            pause = remote.backoff * (2 ** (attempt - 1)) * random.uniform(0.5, 1.5)
            if (not transient or attempt >= max(1, remote.retries)
                    or time.monotonic() + pause >= deadline):
                raise
            time.sleep(pause)


def fetch(repo, remote: Remote, *, do_sync: bool = True,
          branches: list[str] | None = None,
          progress: Callable[[int, int], None] | None = None) -> FetchResult:
    """Sync the replicas and import what they have that we lack.

    The main database gives the unmapped branches and the branch -> database mapping; each
    branch database gives its own branch. BRANCHES limits which branch databases are synced
    (the main database always is). PROGRESS(i, total) is called as each new version is
    checked (0-based I)."""
    result = FetchResult()
    started = time.monotonic()
    deadline = remote.deadline()
    if do_sync:
        _sync_with_retries(repo, remote, deadline, None)
    main = ReplicaReader(replica_path(repo, remote))
    try:
        from .team import adopt

        adopt(repo.config, remote.name, main.team_settings())
        mapping = main.branch_dbs()
        check_mapping(remote, mapping)  # before a row names a file or a host
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
            _import(repo, remote, sources, mapping, result, progress)
        finally:
            for r in readers:
                r.close()
    finally:
        main.close()
    from ..search import after_write

    # the search index's text for the fetched versions
    after_write(repo, budget_s=None, max_bytes=None)
    result.seconds = time.monotonic() - started
    return result


_HEX64 = re.compile(r"[0-9a-f]{64}")
#: the largest row a primary may send (a version's data); a prompt is far smaller
MAX_ROW_BYTES = 32 * 2**20
_STATES = ("active", "frozen", "deleted")


def _bad(remote: Remote, what: str) -> IntegrityError:
    return IntegrityError(f"the primary '{remote.name}' sent {what}; nothing was fetched",
                          hint="the remote database is damaged or hostile; ask its owner "
                               "(your local repository was not changed)")


def _check_id(remote: Remote, value, what: str, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str) or not _HEX64.fullmatch(value):
        raise _bad(remote, f"a bad {what} {str(value)[:80]!r}")


def check_mapping(remote: Remote, mapping: dict[str, dict]) -> None:
    """Every branch -> database row from a primary, checked before anything uses it."""
    from .remotes import check_url

    for branch, row in mapping.items():
        try:
            R.check_ref_name(branch)
        except Exception:  # noqa: BLE001 - any refusal of the name
            raise _bad(remote, f"a branch database row for a bad branch name {branch[:80]!r}") from None
        if row.get("state") not in _STATES:
            raise _bad(remote, f"a branch database row for '{branch}' with a bad state")
        try:
            check_db_name(str(row.get("db_name")), remote.name)
            check_url(str(row.get("url")))
        except Exception as exc:  # noqa: BLE001
            raise _bad(remote, f"a bad branch database row for '{branch}' "
                               f"({getattr(exc, 'message', exc)})") from None


def check_refs(remote: Remote, refs: dict[str, str]) -> None:
    for name, target in refs.items():
        short = name.split("/", 2)[-1] if name.startswith("refs/") else name
        try:
            R.check_ref_name(short)
        except Exception:  # noqa: BLE001
            raise _bad(remote, f"a ref with a bad name {name[:80]!r}") from None
        _check_id(remote, target, f"target for {name[:80]!r}")


def _check_incoming(remote: Remote, row: tuple, chs: list[tuple]) -> None:
    """A commit row and its change rows from a primary: ids and paths, before use."""
    cid = row[0]
    _check_id(remote, row[1], f"tree id in commit {str(cid)[:12]}")
    _check_id(remote, row[2], f"parent in commit {str(cid)[:12]}", optional=True)
    _check_id(remote, row[3], f"parent in commit {str(cid)[:12]}", optional=True)
    for c in chs:
        for i, what in ((4, "version id"), (5, "old version id")):
            _check_id(remote, c[i], f"{what} in commit {str(cid)[:12]}", optional=True)
        for p in (c[1], c[3]):
            if p is not None:
                check_path(p, source=f"the primary '{remote.name}'",
                           hint="the remote holds a name pvc refuses; nothing was fetched "
                                "(your local repository was not changed)")


def _check_version(remote: Remote, v: tuple) -> None:
    _check_id(remote, v[0], "version id")
    _check_id(remote, v[2], f"diff base of version {str(v[0])[:12]}", optional=True)
    _check_id(remote, v[3], f"parent of version {str(v[0])[:12]}", optional=True)
    data = v[7]
    if not isinstance(data, (bytes, bytearray, memoryview, str)) or len(data) > MAX_ROW_BYTES \
            or not isinstance(v[8], int) or v[8] > MAX_ROW_BYTES or v[8] < 0:
        raise _bad(remote, f"version {str(v[0])[:12]} larger than {MAX_ROW_BYTES // 2**20} MiB "
                           "or malformed")


class _TreeCheck:
    """Inside the import transaction: every new tree parses and its paths pass pvc's name
    rule. Trees share nearly all their entries, so each path and id is checked once."""

    def __init__(self, remote: Remote, tree_of: dict[str, str]):
        self.remote = remote
        self.source = f"the primary '{remote.name}'"
        self.tree_of = tree_of  # new commit -> its tree
        self.commit_of = {tree: cid for cid, tree in tree_of.items()}  # tree id -> a commit
        self.paths: set[str] = set()
        self.ids: set[str] = set()
        self.seen: set[str] = set()

    def content(self, tree_id: str, data: bytes) -> None:
        cid = self.commit_of.get(tree_id, tree_id)
        try:
            tree = parse_manifest(data)
        except IntegrityError:
            raise _bad(self.remote, f"a malformed tree in commit {cid[:12]}") from None
        for path, vid in tree.items():
            if path not in self.paths:
                check_path(path, source=self.source,
                           hint="the remote holds a name pvc refuses; nothing was fetched "
                                "(your local repository was not changed)")
                self.paths.add(path)
            if vid not in self.ids:
                _check_id(self.remote, vid, f"version id in the tree of commit {cid[:12]}")
                self.ids.add(vid)
        self.seen.add(tree_id)

    def rest(self, repo) -> None:
        """The new commits whose tree did not arrive with them (one already here)."""
        for cid, tree in self.tree_of.items():
            if tree not in self.seen:
                try:
                    data = repo.versions.get(tree)
                except IntegrityError:
                    raise _bad(self.remote, f"a malformed tree in commit {cid[:12]}") from None
                self.content(tree, data)


def _import(repo, remote: Remote, sources, mapping: dict[str, dict], result: FetchResult,
            progress: Callable[[int, int], None] | None = None) -> None:
    check_mapping(remote, mapping)
    for _, refs in sources:
        check_refs(remote, refs)
    # The walk checks every new row and keeps only ids and links (memory: about 100 bytes a
    # row, not the rows); the transaction reads each row again from its reader, checks it
    # again, and writes it in dependency order.
    # commit id -> (reader, tree, parents, generation); version id -> (reader, diff base)
    new_commits: dict[str, tuple[int, str, tuple[str, ...], int]] = {}
    versions: dict[str, tuple[int, str | None]] = {}
    remote_refs: dict[str, str] = {}
    for src, (reader, refs) in enumerate(sources):
        remote_refs.update(refs)
        for target in refs.values():
            stack = [target]
            while stack:
                cid = stack.pop()
                if cid in new_commits or repo.store.get_commit(cid) is not None:
                    continue
                row, chs = _incoming_commit(remote, reader, cid)
                parents = tuple(p for p in (row[2], row[3]) if p)
                new_commits[cid] = (src, row[1], parents, row[7])
                stack.extend(parents)
                for vid in [row[1]] + [c[4] for c in chs if c[4]]:
                    while vid and vid not in versions and not repo.store.has_version(vid):
                        v = _incoming_version(remote, reader, vid)
                        base = v[2] if v[5] == "diff" else None
                        versions[vid] = (src, base)
                        vid = base
    readers = [reader for reader, _ in sources]
    author = repo.author()
    from ..clock import now_iso
    from ..store import BranchDbRow

    at = now_iso()
    with repo.store.transaction():
        mark = repo.store.last_version_mark()
        for vid in _bases_first({vid: base for vid, (_, base) in versions.items()}):
            src, base = versions[vid]
            v = _incoming_version(remote, readers[src], vid)
            if (v[2] if v[5] == "diff" else None) != base:
                raise _bad(remote, f"version {vid[:12]} changed while it was fetched")
            repo.store.insert_version(VersionRow(*v[:7], bytes(v[7]), *v[8:]))
        # parents first; otherwise in generation order, as the primary numbered them
        by_generation = sorted(new_commits, key=lambda c: (new_commits[c][3], c))
        for cid in parents_first({c: new_commits[c][2] for c in by_generation}):
            row, chs = _incoming_commit(remote, readers[new_commits[cid][0]], cid)
            if tuple(p for p in (row[2], row[3]) if p) != new_commits[cid][2]:
                raise _bad(remote, f"commit {cid[:12]} changed while it was fetched")
            repo.store.insert_commit(CommitRow(*row))
            repo.store.insert_changes(ChangeRow(*c) for c in chs)
        # every new version must rebuild to its hash before anything points at it: streamed
        # in stored order (bases first), so each costs one diff apply; trees are checked
        # as they go by
        trees = _TreeCheck(remote, {cid: info[1] for cid, info in new_commits.items()})
        for i, (row, data) in enumerate(repo.versions.stream(kind=None, after=mark)):
            if row.kind == "tree":
                trees.content(row.id, data)
            if progress is not None:
                progress(i, len(versions))
        trees.rest(repo)
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
                result.pruned.append(name[len(prefix):])
    result.commits = len(new_commits)
    result.versions = len(versions)


def _incoming_commit(remote: Remote, reader, cid: str) -> tuple[tuple, list[tuple]]:
    """Commit CID's row and change rows from READER, checked (its id is its hash)."""
    row = reader.commit(cid)
    if row is None:
        raise IntegrityError(f"the remote names commit {cid[:12]} but does not have it",
                             hint="the remote database is damaged; ask its owner")
    if commit_id(row[1], tuple(p for p in (row[2], row[3]) if p), row[4], row[5],
                 row[6]) != cid:
        raise IntegrityError(f"commit {cid[:12]} from {remote.name} does not match its id",
                             hint="the remote database is damaged; nothing was fetched")
    chs = reader.changes(cid)
    _check_incoming(remote, row, chs)
    return row, chs


def _incoming_version(remote: Remote, reader, vid: str) -> tuple:
    """Version VID's row from READER, checked (its content is checked after insertion)."""
    v = reader.version(vid)
    if v is None:
        raise IntegrityError(f"version {vid[:12]} is missing on {remote.name}",
                             hint="the remote database is damaged")
    _check_version(remote, v)
    if v[0] != vid:
        raise _bad(remote, f"version {vid[:12]} under another id")
    return v


def _bases_first(bases: dict[str, str | None]) -> list[str]:
    """The ids of BASES (id -> its diff base, None for a snapshot) ordered so that a base
    in BASES comes before the versions diffed against it."""
    out: list[str] = []
    placed: set[str] = set()
    for vid in bases:
        line = []
        while vid in bases and vid not in placed and vid not in line:
            line.append(vid)
            vid = bases[vid]  # type: ignore[assignment]
        for v in reversed(line):
            placed.add(v)
            out.append(v)
    return out


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
        with repo.updating_work():
            changes, head_tree = repo.working_changes()
            repo.checkout_trees(head_tree, repo.tree(tracking), changes, what="pull")
            repo.move_ref(R.HEADS + branch, None, tracking, f"pull: from {remote.name}")
        return PullResult(fr, "created")
    if repo.current_branch() != branch:
        local = repo.store.get_ref(R.HEADS + branch)
        if local is None or is_ancestor(repo.store, local, tracking):
            repo.move_ref(R.HEADS + branch, local, tracking, f"pull: fast-forward from {remote.name}")
            return PullResult(fr, "fast-forward")
        raise RemoteError(f"'{branch}' is not the current branch and cannot be fast-forwarded",
                          hint=f"switch to it and pull again: `pvc switch {branch}`")
    out = repo.merge(f"{remote.name}/{branch}",
                     message=f"Merge {remote.name}/{branch} into {branch}",
                     write_conflicts=write_conflicts)
    return PullResult(fr, out.kind, out)


def clone(url: str, directory: Path, *, name: str = "origin", token_env: str | None = None,
          branch: str | None = None, progress: Callable[[int, int], None] | None = None):
    """Create DIRECTORY as a new repository with remote NAME and its history (PROGRESS: as
    for fetch)."""
    from ..repo import Repo
    from .remotes import add_remote

    from ..locks import FileLock

    if directory.exists() and any(directory.iterdir()):
        _clear_killed_clone(directory)
    if directory.exists() and any(directory.iterdir()):
        raise RemoteError(f"destination '{directory}' already exists and is not empty",
                          hint="choose a new folder")
    created = not directory.exists()
    # the marker (held locked while the clone runs) lets a retry clear what a killed clone left
    (directory / ".pvc").mkdir(parents=True, exist_ok=True)
    marker = FileLock(directory / ".pvc" / CLONE_MARKER)
    marker.acquire(0)
    try:
        repo = Repo.init(directory)
    except BaseException:
        marker.release()
        raise
    try:
        remote = add_remote(repo.config, name, url, token_env)
        fr = fetch(repo, remote, progress=progress)
        branches = {n[len(name) + 1:]: t for n, t in repo.remote_branches() if n.startswith(name + "/")}
        chosen = branch or ("main" if "main" in branches else (sorted(branches)[0] if branches else None))
        if chosen is not None:
            if chosen not in branches:
                raise RemoteError(f"{name} has no branch '{chosen}'",
                                  hint="branches: " + ", ".join(sorted(branches)))
            with repo.updating_work():
                repo.store.set_state("HEAD", R.HEADS + chosen)
                repo.move_ref(R.HEADS + chosen, None, branches[chosen], f"clone: from {url}")
                repo.checkout_trees({}, repo.tree(branches[chosen]), [], what="clone")
        (directory / ".pvc" / CLONE_MARKER).unlink()
        marker.release()
        return repo, fr, chosen
    except BaseException:
        repo.close()
        marker.release()
        import shutil

        if created:
            shutil.rmtree(directory, ignore_errors=True)
        else:
            shutil.rmtree(directory / ".pvc", ignore_errors=True)
        raise


CLONE_MARKER = "CLONING"


def _clear_killed_clone(directory: Path) -> None:
    """DIRECTORY holds what a killed `pvc clone` left (its marker is there and nobody holds
    it): remove the repository folder and the files that clone wrote (only those whose
    content is what it wrote), so the retry can start afresh."""
    import shutil

    from ..locks import FileLock
    from ..objects import sha256
    from ..repo import Repo

    pvc = directory / ".pvc"
    marker = pvc / CLONE_MARKER
    leftover = marker.exists() or (pvc.is_dir() and not any(pvc.iterdir()))
    if not leftover:
        return
    lock = FileLock(marker)
    if marker.exists() and not lock.acquire(0):
        raise RemoteError(f"another pvc clone into '{directory}' is running",
                          hint="wait for it to finish")
    try:
        if (pvc / "pvc.db").exists():
            try:
                repo = Repo(directory)  # settles the clone's checkout journal, if any
            except Exception:  # noqa: BLE001 - killed before the database was whole
                repo = None
            if repo is not None:
                try:
                    head = repo.head()
                    tree = repo.tree(head) if head else {}
                    for path, vid in tree.items():
                        data = repo.read_work_bytes(path)
                        if data is not None and sha256(data) == vid:
                            repo.remove_work(path)
                finally:
                    repo.close()
        shutil.rmtree(pvc, ignore_errors=True)
    finally:
        lock.release()


# -- tags ---------------------------------------------------------------------------------------
def push_tags(repo, remote: Remote, names: list[str] | None = None, *,
              force: bool = False) -> list[str]:
    """Publish tags (labels such as `production`) on the main database, moving them there as
    they are here. One atomic request, compare-and-swap per tag against the value this clone
    last saw on the remote (recorded at each fetch and push): a tag moved there since is
    refused with TagConflict and nothing is pushed. FORCE overwrites, recorded as forced in
    the remote's reflog. Returns the tags that were created or moved there (not those
    already in place)."""
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
    from ..clock import now_iso

    at = now_iso()
    author = repo.author()
    stmts = [(sql, ()) for sql in SHARED_DDL]
    stmts.append(spec.writer_announce())
    before_step = len(stmts)  # where the tags were on the primary before this batch
    marks = ", ".join("?" for _ in chosen)
    stmts.append((f"SELECT name, target FROM refs WHERE name IN ({marks})",
                  tuple(R.TAGS + n for n in chosen)))
    stmts += _object_statements(list(uniq.values()), commits, changes)
    guards: dict[int, str] = {}
    for n in chosen:
        ref = R.TAGS + n
        seen = repo.store.get_state(f"fetched.{remote.name}.{ref}")
        action = "push: tag (forced)" if force else "push: tag"
        stmts.append(("INSERT INTO reflog (ref, old, new, who, at, action) SELECT ?, "
                      "(SELECT target FROM refs WHERE name = ?), ?, ?, ?, ? "
                      "WHERE coalesce((SELECT target FROM refs WHERE name = ?), '') != ?",
                      (ref, ref, tags[n], author, at, action, ref, tags[n])))
        if force:
            stmts.append(("INSERT INTO refs (name, target, updated_at) VALUES (?, ?, ?) "
                          "ON CONFLICT(name) DO UPDATE SET target = excluded.target, "
                          "updated_at = excluded.updated_at", (ref, tags[n], at)))
            continue
        if seen is None:  # never seen there: create it, or find it already where ours is
            stmts.append(("INSERT OR IGNORE INTO refs (name, target, updated_at) VALUES (?, ?, ?)",
                          (ref, tags[n], at)))
        else:  # move it from where we last saw it (or find it already moved to ours)
            stmts.append(("UPDATE refs SET target = ?, updated_at = ? WHERE name = ? AND "
                          "target = ?", (tags[n], at, ref, seen)))
        guards[len(stmts)] = n
        stmts.append(("INSERT INTO cas_guard (ok) VALUES ((SELECT 1 FROM refs WHERE name = ? "
                      "AND target = ?))", (ref, tags[n])))
        stmts.append(("DELETE FROM cas_guard", ()))
    stmts.append(spec.WRITER_DONE)
    deadline = remote.deadline()
    client = hrana.HranaClient(remote.http_url, auth_token=remote.token(), timeout=remote.timeout)

    def attempt(remaining: float):
        client.timeout = remaining
        try:
            return client.batch(stmts)
        except hrana.StatementError as exc:
            if exc.step in guards:
                client.timeout = max(1.0, deadline - time.monotonic())
                raise _TagMoved(guards[exc.step], _remote_ref(client, R.TAGS + guards[exc.step])) \
                    from None
            refused = format_error(remote, exc)
            if refused is not None:
                raise refused from None
            raise

    try:
        results = with_retries(remote, deadline, attempt, "push tags")
    except _TagMoved as moved:
        now = f"it is now at {moved.target[:12]}" if moved.target else "it was deleted there"
        raise TagConflict(
            f"tag '{moved.tag}' was moved on {remote.name} since you last fetched ({now}); "
            "no tag was pushed",
            hint=f"run `pvc fetch {remote.name}` to see the move, then `pvc push --tags` again; "
                 "or overwrite it with `pvc push --tags --force`") from None
    finally:
        client.close()
    with repo.store.transaction():
        for n in chosen:
            repo.store.set_state(f"fetched.{remote.name}.{R.TAGS + n}", tags[n])
    before: dict[str, str] = {}
    try:
        before = {str(name): str(target) for name, target in results[before_step].rows}
    except (TypeError, IndexError, AttributeError, ValueError):
        before = {}  # an answer without rows: report every tag as published
    return [n for n in chosen if before.get(R.TAGS + n) != tags[n]]


class _TagMoved(Exception):
    def __init__(self, tag: str, target: str | None):
        super().__init__(tag)
        self.tag = tag
        self.target = target


class TagConflict(RemoteError):
    """A tag push lost its compare-and-swap (retry after a fetch, or --force)."""
