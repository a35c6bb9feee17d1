"""Calls to a primary: where its replica files are, errors explained, retries, one atomic batch.

What push, fetch, pull, clone and the branch databases share when they talk to a primary:
``with_retries`` (transient network errors retried with backoff, never past one deadline),
``run_batch`` (statements from promptvc/store/primary.py as one atomic, announced Hrana
batch), ``format_error`` (a batch the primary refused because of its storage format, read
from the ``Refusal`` kind of the error, never from its words), the replica paths, and
``sync`` (bring a replica file up to date, in a child process with a hard deadline).
``replicas_of`` lists a remote's replica files on disk (``pvc remote remove``).
``check_not_lost`` is the one test that a primary lost its data (re-created or restored
empty): push runs it when the guard step of its batch (``primary.commits_guard``) or its
compare-and-swap fails, fetch (so pull, sync, the daemon's round) after the replica's sync
and before reading it.

May import: the standard library, ``refs``, ``errors``, promptvc/store (``primary`` for statements),
and the remote modules below the transfers (``hrana``, ``replica``, ``remotes``,
``db_backends``; ``upgrade`` lazily). Not ``push``, ``fetch``, ``tags`` or ``clone``: they
import this module.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Callable, TypeVar

from .. import refs as R
from ..errors import ErrorCode, RemoteError
from ..store import primary
from ..store.primary import Refusal, Statement
from . import hrana
from .db_backends import check_db_name, valid_db_name
from .remotes import Remote
from .replica import REPLICA_SUFFIXES, SyncFailed, remove_replica, sync_replica

T = TypeVar("T")


def format_error(remote: Remote, exc: Exception) -> RemoteError | None:
    """The clear error for a batch the primary refused because of its format, or None."""
    from .upgrade import newer_format_error, older_format_error

    if not isinstance(exc, hrana.StatementError):
        return None
    kind = exc.refusal
    if kind is Refusal.NEWER_FORMAT:
        from .upgrade import read_format

        try:  # name what the primary has, when it says
            return newer_format_error(remote, read_format(remote))
        except (RemoteError, hrana.HranaError):
            return newer_format_error(remote)
    if kind is Refusal.OLD_WRITER:  # cannot happen for us: we announce ourselves
        return older_format_error(remote)
    if kind is Refusal.NO_WRITER_TABLE or (kind is Refusal.FORMAT1_GUARD and exc.step == 1):
        return older_format_error(remote)
    return None


def replica_path(repo, remote: Remote, db_name: str | None = None) -> Path:
    """The replica file of REMOTE's main database, or of its branch database DB_NAME."""
    if db_name is not None:
        check_db_name(db_name, remote.name)
    name = remote.name if db_name is None else f"{remote.name}@{db_name}"
    return repo.pvc_dir / "remotes" / f"{name}.db"


def replicas_of(repo, name: str) -> list[Path]:
    """Every replica file on disk of the remote named NAME: its main database's and its
    branch databases' (``replica_path``), found by name whether or not a branch_dbs row
    still names them. Companion files (``-wal``, ``.lock``, ...) count under their base."""
    folder = repo.pvc_dir / "remotes"
    if not folder.is_dir():
        return []
    suffixes = sorted(REPLICA_SUFFIXES + (".lock",), key=len, reverse=True)
    found = set()
    for entry in folder.iterdir():
        for suffix in suffixes:
            if entry.name.endswith(".db" + suffix):
                base = entry.name[:len(entry.name) - len(suffix)]
                break
        else:
            continue
        stem = base[:-len(".db")]
        owner, at, db_name = stem.partition("@")
        if owner == name and (not at or valid_db_name(db_name)):
            found.add(folder / base)
    return sorted(found)


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


def with_retries(remote: Remote, deadline: float, fn: Callable[[float], T], what: str,
                 sleep: Callable[[float], object] = time.sleep) -> T:
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


def run_batch(remote: Remote, statements: list[Statement], what: str) -> list[hrana.ResultSet]:
    """Run STATEMENTS on REMOTE as one atomic Hrana batch, retrying transient errors, never
    past the remote's timeout. Returns one result set per statement of STATEMENTS (the
    writer's announcement that `announced` adds is not among them)."""
    deadline = remote.deadline()
    client = hrana.HranaClient(remote.http_url, auth_token=remote.token(), timeout=remote.timeout)

    sent = primary.announced(statements)
    at = sent.index(primary.writer_announce())  # where the announcement stands

    def attempt(remaining: float):
        client.timeout = remaining
        return client.batch(sent)

    try:
        results = with_retries(remote, deadline, attempt, what)
    finally:
        client.close()
    return results[:at] + results[at + 1:-1] if results else results


def read_remote_ref(client: hrana.HranaClient, name: str) -> str | None:
    """Where ref NAME is on the primary CLIENT talks to (None: no such ref, or unreadable)."""
    try:
        rs = client.execute(*primary.ref_target(name))
    except hrana.StatementError:
        return None
    return rs.rows[0][0] if rs.rows else None


# -- a primary that lost its data ----------------------------------------------------------------
class PrimaryLost(RemoteError):
    """The primary lacks a commit this clone saw there: it was re-created or restored empty
    (commits are never deleted from a primary)."""

    error_code = ErrorCode.PRIMARY_LOST


def check_not_lost(repo, remote: Remote, client: hrana.HranaClient, deadline: float,
                   seen: dict[str, str], nothing: str, prefer: str | None = None) -> None:
    """Raise PrimaryLost when the primary CLIENT talks to lacks one of the commits SEEN
    (branch -> the commit this clone last saw it at on REMOTE's main database; empty: nothing
    to check). One request. Before raising, the stale replica files of REMOTE are deleted:
    an embedded replica keeps the old primary's frames and would serve its rows again (see
    TURSO.md). NOTHING completes the message ("pushed", "fetched"); the message names branch
    PREFER (the one being pushed, or the current one) when it is among the missing."""
    if not seen:
        return
    ids = sorted(set(seen.values()))

    def attempt(remaining: float) -> set[str]:
        client.timeout = remaining
        try:
            return {row[0] for row in client.execute(*primary.commits_present(ids)).rows}
        except hrana.StatementError as exc:
            if exc.refusal is Refusal.NO_SUCH_TABLE:  # an empty database: no commits at all
                return set()
            raise

    present = with_retries(remote, deadline, attempt, "check the primary's history")
    missing = sorted((b, c) for b, c in seen.items() if c not in present)
    if not missing:
        return
    for base in replicas_of(repo, remote.name):
        remove_replica(base)
    with repo.store.transaction():  # the next push creates the tables again
        repo.store.set_state(f"remote.initialized.{remote.url}", None)
    branch, cid = next(((b, c) for b, c in missing if b == prefer), missing[0])
    raise PrimaryLost(
        f"{remote.name} no longer has commit {cid[:12]}, where this clone last saw {branch}: "
        f"the primary has lost its data (re-created or restored empty); nothing was {nothing}",
        hint=f"re-seed it from this clone's history with `pvc push --reseed` (then "
             f"`pvc push --reseed --tags` for the labels), or start again from what it has "
             f"now: `pvc remote remove {remote.name}` and `pvc remote add {remote.name} URL`",
        error_code=ErrorCode.PRIMARY_LOST, remote=remote.name, branch=branch, commit=cid)


def main_tracking(repo, remote: Remote) -> dict[str, str]:
    """Branch -> where its tracking ref says it is, for REMOTE's branches that live in its
    main database (not in a branch database): what a push or fetch there may take as known."""
    prefix = f"{R.REMOTES}{remote.name}/"
    mapped = {r.branch for r in repo.store.branch_dbs(remote.name) if r.state != "deleted"}
    return {n[len(prefix):]: t for n, t in repo.store.list_refs(prefix)
            if n[len(prefix):] not in mapped}


# -- replicas -------------------------------------------------------------------------------------
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
            probe.execute(*primary.PROBE)
        except hrana.HranaError as perr:
            raise _explain(remote, perr, "fetch") from None
        finally:
            probe.close()
        raise RemoteError(f"fetch from {_host(remote)} failed: {exc.message}",
                          hint="run the command again") from None


def sync_with_retries(repo, remote: Remote, deadline: float, db_name: str | None) -> None:
    """``sync``, retried on transient errors with backoff, never past DEADLINE."""
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
