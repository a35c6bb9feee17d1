"""Branches that are databases: create (fork), record, freeze, delete.

With a remote that has a branch backend (`--admin-url` for sqld, `--turso-org` for Turso),
`pvc branch NAME` forks the current branch's database into a new one, records the mapping
branch -> database on the main database (so every clone sees it) and in the local
repository, and pushes the branch there. Commits on the branch are pushed to its database.
"""

from __future__ import annotations

from .. import refs as R
from ..errors import ErrorCode, RefError, RemoteError
from ..store import BranchDbRow, primary
from ..store.primary import Statement
from .calls import replica_path, run_batch
from .db_backends import BackendError, BranchBackend, new_db_name
from .push import push
from .remotes import Remote
from .replica import remove_replica


def _record_on_main(remote: Remote, statements: list[Statement]) -> None:
    run_batch(remote, primary.shared_ddl() + statements, "record the branch database")


def _upsert(row: BranchDbRow) -> Statement:
    return primary.upsert_branch_db(row)


def parent_database(repo, remote: Remote, backend: BranchBackend) -> tuple[str, str]:
    """(database name, url) of the current branch's database."""
    branch = repo.current_branch()
    row = repo.store.branch_db(remote.name, branch) if branch else None
    if row is not None and row.state != "deleted":
        return row.db_name, row.url
    return backend.database_of_url(remote.url), remote.url


def create_branch_db(repo, remote: Remote, name: str, start: str | None = None,
                     timestamp: str | None = None) -> tuple[str, BranchDbRow, str | None]:
    """Create branch NAME at START with its own database. Returns (commit id, mapping row,
    warning or None)."""
    from ..clock import now_iso

    backend = remote.backend()
    if backend is None:
        raise RemoteError(f"remote '{remote.name}' has no branch-database backend",
                          hint=f"add one: `pvc remote remove {remote.name}` then `pvc remote add "
                               f"{remote.name} URL --admin-url URL` (sqld) or `--turso-org ORG`",
                          error_code=ErrorCode.NO_BACKEND)
    R.check_ref_name(name)
    if repo.store.get_ref(R.HEADS + name):
        raise RefError(f"a branch named '{name}' already exists",
                       hint=f"switch to it with `pvc switch {name}`, or pick another name")
    cid = repo.resolve(start or "HEAD")
    parent_name, _ = parent_database(repo, remote, backend)
    base = remote.db_prefix or backend.database_of_url(remote.url)
    db_name = new_db_name(base, name)
    db = backend.create(parent_name, db_name, timestamp)
    row = BranchDbRow(remote.name, name, db.name, db.url, repo.current_branch(), now_iso(),
                      "active")
    from .team import record_statements, remember_recorded

    team_stmts, team_fp = record_statements(repo, remote)
    try:
        _record_on_main(remote, team_stmts + [_upsert(row)])
        with repo.store.transaction():
            remember_recorded(repo, remote, team_fp)
            repo.store.put_branch_db(row)
            repo.move_ref(R.HEADS + name, None, cid, f"branch: created from {start or 'HEAD'} "
                                                     f"with database {db.name}")
    except BaseException as exc:
        try:
            backend.delete(db.name)
        except Exception:  # noqa: BLE001
            raise RemoteError(
                f"the branch database {db.name} was created but could not be recorded ({exc}), "
                "and deleting it failed too",
                hint=f"delete it by hand: {backend.cleanup_hint(db.name)}") from None
        raise
    warning = None
    try:
        push(repo, remote, name)
    except RemoteError as exc:
        warning = f"the branch was created but not pushed yet: {exc.message}"
    return cid, row, warning


def reseed_branch_dbs(repo, remote: Remote) -> list[tuple[BranchDbRow, str]]:
    """After the main database of REMOTE was re-seeded (`push --reseed`): bring back every
    branch database this clone knows of (a mapping row of REMOTE, active or frozen, whose
    branch exists here). One that is gone is created again under its old name (forked from
    the main database), recorded on the primary again, and sent its branch's whole history;
    one that is still there is sent the history it may lack. Returns (row, "re-created" or
    "re-seeded") per branch database."""
    from dataclasses import replace

    rows = [r for r in repo.store.branch_dbs(remote.name)
            if r.state != "deleted" and repo.store.get_ref(R.HEADS + r.branch)]
    if not rows:
        return []
    backend = remote.backend()
    if backend is None:
        raise RemoteError(f"this clone maps {len(rows)} branch(es) of '{remote.name}' to their "
                          "own databases, but the remote has no branch-database backend to "
                          "re-create them",
                          hint=f"add one (`pvc remote add {remote.name} URL --admin-url URL` or "
                               "`--turso-org ORG`) and run `pvc push --reseed` again",
                          error_code=ErrorCode.NO_BACKEND)
    from .team import record_statements, remember_recorded

    main_db = backend.database_of_url(remote.url)
    out = []
    for row in rows:
        exists = getattr(backend, "exists", None)
        action = "re-seeded"
        if exists is None or not exists(row.db_name):
            try:
                db = backend.create(main_db, row.db_name)
            except BackendError as exc:
                if exc.status != 409:  # Turso: the database is still there
                    raise
            else:
                row = replace(row, url=db.url)
                action = "re-created"
        team_stmts, team_fp = record_statements(repo, remote)
        _record_on_main(remote, team_stmts + [_upsert(row)])
        with repo.store.transaction():
            remember_recorded(repo, remote, team_fp)
            repo.store.put_branch_db(row)
        push(repo, remote, row.branch, reseed=True)
        if row.state == "frozen" and backend.can_freeze:
            backend.freeze(row.db_name)
        out.append((row, action))
    return out


def delete_branch_db(repo, remote: Remote, name: str, force: bool = False) -> tuple[str, BranchDbRow]:
    from ..clock import now_iso

    row = repo.store.branch_db(remote.name, name)
    if row is None or row.state == "deleted":
        raise RemoteError(f"branch '{name}' has no database on {remote.name}",
                          hint=f"delete the local branch with `pvc branch -d {name}`",
                          error_code=ErrorCode.NO_BRANCH_DB)
    local = repo.store.get_ref(R.HEADS + name)
    if local is not None:
        repo.check_deletable(name, force, anyway="delete it and its database anyway")
    if not force:  # the database's own head, not our (maybe stale) copy of it
        _check_server_head(repo, remote.for_database(row.url), name, row.db_name)
    target = local or repo.store.get_ref(f"{R.REMOTES}{remote.name}/{name}") or ""
    backend = remote.backend()
    if backend is None:
        raise RemoteError(f"remote '{remote.name}' has no branch-database backend",
                          hint="configure --admin-url or --turso-org to delete databases",
                          error_code=ErrorCode.NO_BACKEND)
    backend.delete(row.db_name)
    gone = BranchDbRow(row.remote, row.branch, row.db_name, row.url, row.parent, now_iso(),
                       "deleted")
    _record_on_main(remote, [_upsert(gone)])
    with repo.store.transaction():
        repo.store.put_branch_db(gone)
        if local is not None:
            repo.move_ref(R.HEADS + name, local, None, f"branch: deleted with database {row.db_name}")
        tracking = f"{R.REMOTES}{remote.name}/{name}"
        old = repo.store.get_ref(tracking)
        if old:
            repo.move_ref(tracking, old, None, "branch: database deleted")
    remove_replica(replica_path(repo, remote, row.db_name))
    return target, row


def _check_server_head(repo, db_remote: Remote, name: str, db_name: str) -> None:
    """Refuse to delete branch database DB_NAME when its head on the server holds commits
    the current branch does not contain (a teammate's pushed, unmerged work)."""
    from . import hrana
    from .calls import with_retries

    client = hrana.HranaClient(db_remote.http_url, auth_token=db_remote.token(),
                               timeout=db_remote.timeout)

    def attempt(remaining: float):
        client.timeout = remaining
        rs = client.execute(*primary.ref_target(R.HEADS + name))
        return rs.rows[0][0] if rs.rows else None

    try:
        server_head = with_retries(db_remote, db_remote.deadline(), attempt,
                                   f"read the head of branch database {db_name}")
    except RemoteError as exc:
        raise RemoteError(f"cannot check branch '{name}' on its database {db_name}: "
                          f"{exc.message}; nothing was deleted",
                          hint=f"run it again when the server answers, or delete anyway with "
                               f"`pvc branch -D {name}`") from None
    finally:
        client.close()
    if server_head is None:
        return
    head = repo.head()
    if head is None or server_head not in repo.store.ancestor_ids([head]):
        known = repo.store.get_commit(server_head) is not None
        raise RefError(
            f"branch '{name}' on its database {db_name} is at {server_head[:12]}, which is not "
            f"merged into {repo.current_branch()}"
            + ("" if known else " (commits you have not fetched)") + "; nothing was deleted",
            hint=f"`pvc fetch` and merge {db_remote.name}/{name} first, or delete it "
                 f"and its database anyway with `pvc branch -D {name}`")


def freeze_branch_db(repo, remote: Remote, name: str) -> BranchDbRow:
    from ..clock import now_iso

    row = repo.store.branch_db(remote.name, name)
    if row is None or row.state == "deleted":
        raise RemoteError(f"branch '{name}' has no database on {remote.name}",
                          hint="only branch databases can be frozen",
                          error_code=ErrorCode.NO_BRANCH_DB)
    backend = remote.backend()
    if backend is None:
        raise RemoteError(f"remote '{remote.name}' has no branch-database backend, so the "
                          f"database {row.db_name} of branch '{name}' cannot be frozen",
                          hint="configure --admin-url or --turso-org to freeze databases",
                          error_code=ErrorCode.NO_BACKEND)
    backend.freeze(row.db_name)
    frozen = BranchDbRow(row.remote, row.branch, row.db_name, row.url, row.parent, now_iso(),
                         "frozen")
    _record_on_main(remote, [_upsert(frozen)])
    with repo.store.transaction():
        repo.store.put_branch_db(frozen)
    return frozen
