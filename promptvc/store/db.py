"""The one place that talks to libSQL: connection, transactions, migrations, queries.

Everything above this module calls named methods; no other module holds SQL or imports
the libSQL client (a test enforces it).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Sequence

from ..errors import LockedError, PvcError, SchemaError
from .schema import MIGRATIONS, SCHEMA_VERSION

# libsql prints coloured INFO logs to stdout unless told otherwise (breaks --json).
os.environ.setdefault("RUST_LOG", "off")


def _libsql():
    import libsql_experimental

    return libsql_experimental


@dataclass(frozen=True)
class VersionRow:
    id: str
    kind: str
    parent_version_id: str | None
    parent2_version_id: str | None
    path: str | None
    storage: str
    codec: str
    data: bytes
    size: int
    chain_len: int
    chain_bytes: int
    created_at: str


VERSION_COLS = (
    "id, kind, parent_version_id, parent2_version_id, path, storage, codec, data, size, "
    "chain_len, chain_bytes, created_at"
)


@dataclass(frozen=True)
class CommitRow:
    id: str
    tree_id: str
    parent1: str | None
    parent2: str | None
    author: str
    committed_at: str
    message: str
    generation: int

    @property
    def parents(self) -> tuple[str, ...]:
        return tuple(p for p in (self.parent1, self.parent2) if p)


# one query fetches a whole diff chain, from the snapshot to the version
VERSION_CHAIN_SQL = f"""WITH RECURSIVE chain(vid, depth) AS (
        SELECT ?, 0
        UNION ALL
        SELECT v.parent_version_id, chain.depth + 1
        FROM versions v JOIN chain ON v.id = chain.vid
        WHERE v.storage = 'diff' AND chain.depth < ?
    )
    SELECT {VERSION_COLS}
    FROM chain JOIN versions ON versions.id = chain.vid
    ORDER BY chain.depth DESC"""

COMMIT_COLS = "id, tree_id, parent1, parent2, author, committed_at, message, generation"


@dataclass(frozen=True)
class ChangeRow:
    commit_id: str
    path: str
    status: str
    old_path: str | None
    version_id: str | None
    old_version_id: str | None
    insertions: int
    deletions: int


CHANGE_COLS = "commit_id, path, status, old_path, version_id, old_version_id, insertions, deletions"


@dataclass(frozen=True)
class ReflogRow:
    seq: int
    ref: str
    old: str | None
    new: str | None
    who: str
    at: str
    action: str


@dataclass(frozen=True)
class BranchDbRow:
    remote: str
    branch: str
    db_name: str
    url: str
    parent: str | None
    created_at: str
    state: str


BRANCH_DB_COLS = "remote, branch, db_name, url, parent, created_at, state"


@dataclass(frozen=True)
class TrackedRow:
    path: str
    origin: str | None
    st_size: int | None
    st_mtime: str | None
    sha: str | None


def _read_only_mount(path: str) -> bool:
    try:
        return bool(os.statvfs(os.path.dirname(path) or ".").f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _is_locked(exc: Exception) -> bool:
    text = str(exc).lower()
    return "database is locked" in text or "busy" in text


class Store:
    """A pvc database file opened with libsql-experimental."""

    def __init__(self, path: str, *, busy_timeout_ms: int | None = None, readonly: bool = False):
        if busy_timeout_ms is None:  # how long a writer waits for another pvc process
            try:
                busy_timeout_ms = int(os.environ.get("PVC_BUSY_TIMEOUT_MS", "10000"))
            except ValueError:
                busy_timeout_ms = 10_000
        self.path = path
        self.readonly = readonly
        self._depth = 0
        libsql = _libsql()
        key = os.environ.get("PVC_ENCRYPTION_KEY") or None
        try:
            if key:  # encryption at rest (libSQL's encryption_key)
                self.conn = libsql.connect(path, isolation_level=None, encryption_key=key)
            else:
                self.conn = libsql.connect(path, isolation_level=None)
            self.conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            self.conn.execute("SELECT count(*) FROM sqlite_master").fetchall()
        except ValueError as exc:
            if "unable to open" in str(exc).lower() and not key and self._open_read_only():
                return
            explained = self._explain(exc)
            if isinstance(explained, PvcError):
                raise explained from None
            raise SchemaError(f"cannot open the pvc database {path}: {exc}",
                              hint="check the path and its permissions") from None
        self._depth = 0

    def _open_read_only(self) -> bool:
        """The folder cannot be written (a read-only mount): read the database as immutable
        with the standard library's sqlite3, so history stays readable; writes then fail
        with a clear message."""
        import sqlite3

        if os.access(os.path.dirname(self.path) or ".", os.W_OK) and not _read_only_mount(self.path):
            return False
        try:
            conn = sqlite3.connect(f"file:{self.path}?immutable=1", uri=True,
                                   isolation_level=None, check_same_thread=False)
            conn.execute("SELECT count(*) FROM sqlite_master").fetchall()
        except sqlite3.Error:
            return False
        self.conn = conn
        self.readonly = True
        return True

    # -- plumbing ---------------------------------------------------------------------
    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.close()

    def _exec(self, sql: str, args: Sequence[Any] = ()):
        try:
            return self.conn.execute(sql, tuple(args))
        except ValueError as exc:
            raise self._explain(exc) from None
        except Exception as exc:  # the stdlib sqlite3 fallback of a read-only database
            import sqlite3

            if isinstance(exc, sqlite3.Error):
                raise self._explain(ValueError(str(exc))) from None
            raise

    def _explain(self, exc: ValueError) -> Exception:
        """Turn libSQL's plain ValueErrors into errors a user can act on."""
        text = str(exc).lower()
        if _is_locked(exc):
            return LockedError(
                f"the pvc database {self.path} is locked by another pvc process",
                hint="wait for it to finish and run the command again",
            )
        if "readonly" in text or "read-only" in text:
            return PvcError(
                f"cannot write to {self.path}: the database or its folder is read-only; "
                "nothing was changed",
                hint="check the permissions and mount of the .pvc folder",
            )
        if "full" in text or "no space" in text or "disk i/o error" in text:
            return PvcError(
                f"cannot write to {self.path}: the disk is full or failing ({exc}); nothing was "
                "changed",
                hint="free some space and run the command again",
            )
        if "file is not a database" in text or "malformed" in text or "notadb" in text:
            return SchemaError(
                f"{self.path} is not a readable pvc database ({exc})",
                hint="if it is encrypted, set PVC_ENCRYPTION_KEY; otherwise restore it from "
                     "the remote with `pvc fsck --repair`, or clone the repository again",
            )
        return exc

    def _all(self, sql: str, args: Sequence[Any] = ()) -> list[tuple]:
        cur = self._exec(sql, args)
        try:
            return cur.fetchall()
        except ValueError as exc:
            raise self._explain(exc) from None

    def _one(self, sql: str, args: Sequence[Any] = ()) -> tuple | None:
        cur = self._exec(sql, args)
        try:
            return cur.fetchone()
        except ValueError as exc:
            raise self._explain(exc) from None

    @contextlib.contextmanager
    def transaction(self) -> Iterator["Store"]:
        """One write transaction (BEGIN IMMEDIATE); nested calls join the outer one."""
        if self._depth:
            self._depth += 1
            try:
                yield self
            finally:
                self._depth -= 1
            return
        if self.readonly:
            raise PvcError(
                f"cannot write to {self.path}: the database or its folder is read-only; "
                "nothing was changed",
                hint="check the permissions and mount of the .pvc folder",
            )
        self._exec("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield self
        except BaseException:
            self._depth = 0
            with contextlib.suppress(Exception):
                self.conn.execute("ROLLBACK")
            raise
        else:
            self._depth = 0
            try:
                self._exec("COMMIT")
            except BaseException:
                with contextlib.suppress(Exception):
                    self.conn.execute("ROLLBACK")
                raise

    # -- schema -----------------------------------------------------------------------
    def user_version(self) -> int:
        row = self._one("PRAGMA user_version")
        return int(row[0]) if row else 0

    def migrate(self) -> list[str]:
        """Apply the migration steps this database lacks; refuse unknown newer versions."""
        current = self.user_version()
        if current > SCHEMA_VERSION:
            raise SchemaError(
                f"the repository database {self.path} has schema version {current}, but this "
                f"pvc knows versions up to {SCHEMA_VERSION}",
                hint="upgrade pvc (pip install -U promptvc) to use this repository",
            )
        applied = []
        for number, (name, statements) in enumerate(MIGRATIONS, start=1):
            if number <= current:
                continue
            with self.transaction():
                for sql in statements:
                    self._exec(sql)
                self._exec(f"PRAGMA user_version = {number}")
            applied.append(name)
        return applied

    def check_schema(self) -> None:
        current = self.user_version()
        if current > SCHEMA_VERSION:
            self.migrate()  # raises the clear error
        if current < SCHEMA_VERSION:
            if self.readonly:
                raise SchemaError(f"the repository database {self.path} needs an upgrade")
            self.migrate()

    def set_wal(self) -> None:
        with contextlib.suppress(ValueError):
            self._exec("PRAGMA journal_mode = WAL")

    # -- versions ---------------------------------------------------------------------
    def version_meta(self, version_id: str) -> tuple[int, int, int, str] | None:
        """(size, chain_len, chain_bytes, storage) of a version, or None."""
        row = self._one(
            "SELECT size, chain_len, chain_bytes, storage FROM versions WHERE id = ?", (version_id,)
        )
        return (int(row[0]), int(row[1]), int(row[2]), row[3]) if row else None

    def has_version(self, version_id: str) -> bool:
        return self._one("SELECT 1 FROM versions WHERE id = ?", (version_id,)) is not None

    def insert_version(self, row: VersionRow) -> None:
        self._exec(
            f"INSERT OR IGNORE INTO versions ({VERSION_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                row.id, row.kind, row.parent_version_id, row.parent2_version_id, row.path,
                row.storage, row.codec, row.data, row.size, row.chain_len, row.chain_bytes,
                row.created_at,
            ),
        )

    def version_chain(self, version_id: str, limit: int = 100_000) -> list[VersionRow]:
        """The rows needed to rebuild a version: its snapshot first, the version last."""
        return [VersionRow(*r) for r in self._all(VERSION_CHAIN_SQL, (version_id, limit))]

    def get_version_row(self, version_id: str) -> VersionRow | None:
        row = self._one(f"SELECT {VERSION_COLS} FROM versions WHERE id = ?", (version_id,))
        return VersionRow(*row) if row else None

    def iter_versions(self, batch: int = 500) -> Iterator[VersionRow]:
        last = ""
        while True:
            rows = self._all(
                f"SELECT {VERSION_COLS} FROM versions WHERE id > ? ORDER BY id LIMIT ?",
                (last, batch),
            )
            if not rows:
                return
            for r in rows:
                yield VersionRow(*r)
            last = rows[-1][0]

    def versions_with_prefix(self, prefix: str, kind: str = "prompt") -> list[str]:
        return [
            r[0]
            for r in self._all(
                "SELECT id FROM versions WHERE id >= ? AND id < ? AND kind = ? LIMIT 2",
                (prefix, prefix + "g", kind),
            )
        ]

    def versions_of_path(self, path: str) -> list[VersionRow]:
        """Versions first committed under PATH, oldest first (for `debug chain`)."""
        rows = self._all(
            f"SELECT {VERSION_COLS} FROM versions WHERE path = ? AND kind = 'prompt' "
            "ORDER BY created_at, rowid",
            (path,),
        )
        return [VersionRow(*r) for r in rows]

    def storage_totals(self) -> dict[str, int]:
        row = self._one(
            "SELECT count(*), coalesce(sum(length(data)),0), coalesce(sum(size),0), "
            "coalesce(sum(storage='snapshot'),0) FROM versions WHERE kind='prompt'"
        )
        return {"versions": row[0], "stored": row[1], "full": row[2], "snapshots": row[3]}

    # -- commits ----------------------------------------------------------------------
    def insert_commit(self, row: CommitRow) -> None:
        self._exec(
            f"INSERT OR IGNORE INTO commits ({COMMIT_COLS}) VALUES (?,?,?,?,?,?,?,?)",
            (row.id, row.tree_id, row.parent1, row.parent2, row.author, row.committed_at,
             row.message, row.generation),
        )

    def get_commit(self, commit_id: str) -> CommitRow | None:
        row = self._one(f"SELECT {COMMIT_COLS} FROM commits WHERE id = ?", (commit_id,))
        return CommitRow(*row) if row else None

    def commits_with_prefix(self, prefix: str) -> list[str]:
        return [
            r[0]
            for r in self._all(
                "SELECT id FROM commits WHERE id >= ? AND id < ? LIMIT 2", (prefix, prefix + "g")
            )
        ]

    def ancestors(self, heads: Sequence[str], limit: int | None = None) -> list[CommitRow]:
        """Every commit reachable from HEADS, newest generation first."""
        reach = self.ancestor_ids(heads)
        if not reach:
            return []
        out: list[CommitRow] = []
        cur = self._exec(
            f"SELECT {COMMIT_COLS} FROM commits INDEXED BY commits_generation "
            "ORDER BY generation DESC, committed_at DESC, id")
        while True:
            rows = cur.fetchmany(256)
            if not rows:
                break
            for r in rows:
                if r[0] in reach:
                    out.append(CommitRow(*r))
                    if limit is not None and len(out) >= limit:
                        return out
            if len(out) == len(reach):
                break
        return out

    def ancestor_ids(self, heads: Sequence[str]) -> set[str]:
        """Ids of every commit reachable from HEADS (a scan of the covering graph index,
        then a walk in Python: faster than a recursive query at 10,000+ commits)."""
        heads = [h for h in heads if h]
        if not heads:
            return set()
        parents = {r[0]: (r[1], r[2]) for r in self._all(
            "SELECT id, parent1, parent2 FROM commits INDEXED BY commits_graph")}
        seen: set[str] = set()
        stack = list(heads)
        while stack:
            cid = stack.pop()
            if cid in seen or cid not in parents:
                continue
            seen.add(cid)
            p1, p2 = parents[cid]
            if p1:
                stack.append(p1)
            if p2:
                stack.append(p2)
        return seen

    def commits_touching(self, paths: Iterable[str]) -> list[CommitRow]:
        """Commits whose change list names any of PATHS (as new or old path)."""
        paths = list(paths)
        if not paths:
            return []
        marks = ",".join("?" for _ in paths)
        rows = self._all(
            f"""SELECT DISTINCT {COMMIT_COLS.replace('id,', 'commits.id,', 1)} FROM commits
                JOIN changes ON changes.commit_id = commits.id
                WHERE changes.path IN ({marks}) OR changes.old_path IN ({marks})
                ORDER BY generation DESC, committed_at DESC, commits.id""",
            paths + paths,
        )
        return [CommitRow(*r) for r in rows]

    def renames_into(self, paths: Iterable[str]) -> list[tuple[str, str]]:
        paths = list(paths)
        marks = ",".join("?" for _ in paths)
        return [
            (r[0], r[1])
            for r in self._all(
                f"SELECT path, old_path FROM changes WHERE status = 'R' AND path IN ({marks})",
                paths,
            )
        ]

    def iter_commits(self) -> Iterator[CommitRow]:
        last = ""
        while True:
            rows = self._all(
                f"SELECT {COMMIT_COLS} FROM commits WHERE id > ? ORDER BY id LIMIT 1000", (last,)
            )
            if not rows:
                return
            for r in rows:
                yield CommitRow(*r)
            last = rows[-1][0]

    def commit_count(self) -> int:
        return int(self._one("SELECT count(*) FROM commits")[0])

    # -- changes ----------------------------------------------------------------------
    def insert_changes(self, rows: Iterable[ChangeRow]) -> None:
        for c in rows:
            self._exec(
                f"INSERT OR IGNORE INTO changes ({CHANGE_COLS}) VALUES (?,?,?,?,?,?,?,?)",
                (c.commit_id, c.path, c.status, c.old_path, c.version_id, c.old_version_id,
                 c.insertions, c.deletions),
            )

    def changes_of(self, commit_id: str) -> list[ChangeRow]:
        return [
            ChangeRow(*r)
            for r in self._all(
                f"SELECT {CHANGE_COLS} FROM changes WHERE commit_id = ? ORDER BY path", (commit_id,)
            )
        ]

    def changes_for_commits(self, commit_ids: Sequence[str]) -> dict[str, list[ChangeRow]]:
        out: dict[str, list[ChangeRow]] = {c: [] for c in commit_ids}
        for start in range(0, len(commit_ids), 500):
            chunk = list(commit_ids[start:start + 500])
            marks = ",".join("?" for _ in chunk)
            for r in self._all(
                f"SELECT {CHANGE_COLS} FROM changes WHERE commit_id IN ({marks}) ORDER BY path",
                chunk,
            ):
                out[r[0]].append(ChangeRow(*r))
        return out

    # -- refs -------------------------------------------------------------------------
    def get_ref(self, name: str) -> str | None:
        row = self._one("SELECT target FROM refs WHERE name = ?", (name,))
        return row[0] if row else None

    def list_refs(self, prefix: str) -> list[tuple[str, str]]:
        return [
            (r[0], r[1])
            for r in self._all(
                "SELECT name, target FROM refs WHERE name >= ? AND name < ? ORDER BY name",
                (prefix, prefix + "\U0010ffff"),
            )
        ]

    def cas_ref(self, name: str, old: str | None, new: str | None, *, at: str) -> bool:
        """Compare-and-swap a ref: create (old None), move, or delete (new None)."""
        if old is None and new is not None:
            cur = self._exec(
                "INSERT OR IGNORE INTO refs (name, target, updated_at) VALUES (?,?,?)",
                (name, new, at),
            )
        elif new is None:
            cur = self._exec("DELETE FROM refs WHERE name = ? AND target = ?", (name, old))
        else:
            cur = self._exec(
                "UPDATE refs SET target = ?, updated_at = ? WHERE name = ? AND target = ?",
                (new, at, name, old),
            )
        return cur.rowcount == 1

    def append_reflog(self, ref: str, old: str | None, new: str | None, who: str, at: str,
                      action: str) -> None:
        self._exec(
            "INSERT INTO reflog (ref, old, new, who, at, action) VALUES (?,?,?,?,?,?)",
            (ref, old, new, who, at, action),
        )

    def reflog(self, ref: str | None = None, limit: int | None = None) -> list[ReflogRow]:
        sql = "SELECT seq, ref, old, new, who, at, action FROM reflog"
        args: list[Any] = []
        if ref is not None:
            sql += " WHERE ref = ?"
            args.append(ref)
        sql += " ORDER BY seq DESC"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(int(limit))
        return [ReflogRow(*r) for r in self._all(sql, args)]

    def all_refs(self) -> list[tuple[str, str]]:
        return [(r[0], r[1]) for r in self._all("SELECT name, target FROM refs ORDER BY name")]

    # -- state (local, never shared) --------------------------------------------------
    def get_state(self, key: str) -> str | None:
        row = self._one("SELECT value FROM state WHERE key = ?", (key,))
        return row[0] if row else None

    def set_state(self, key: str, value: str | None) -> None:
        if value is None:
            self._exec("DELETE FROM state WHERE key = ?", (key,))
        else:
            self._exec(
                "INSERT INTO state (key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    # -- tracked files ----------------------------------------------------------------
    def tracked(self) -> dict[str, TrackedRow]:
        return {
            r[0]: TrackedRow(*r)
            for r in self._all("SELECT path, origin, st_size, st_mtime, sha FROM tracked")
        }

    def track(self, path: str, origin: str | None = None) -> None:
        self._exec(
            "INSERT INTO tracked (path, origin) VALUES (?, ?) "
            "ON CONFLICT(path) DO UPDATE SET origin = coalesce(excluded.origin, tracked.origin)",
            (path, origin),
        )

    def untrack(self, path: str) -> None:
        self._exec("DELETE FROM tracked WHERE path = ?", (path,))

    def set_tracked_stat(self, path: str, size: int | None, mtime: str | None,
                         sha: str | None) -> None:
        self._exec(
            "UPDATE tracked SET st_size = ?, st_mtime = ?, sha = ? WHERE path = ?",
            (size, mtime, sha, path),
        )

    def clear_origin(self, path: str) -> None:
        self._exec("UPDATE tracked SET origin = NULL WHERE path = ?", (path,))

    def replace_tracked(self, rows: Iterable[TrackedRow]) -> None:
        self._exec("DELETE FROM tracked")
        for r in rows:
            self._exec(
                "INSERT INTO tracked (path, origin, st_size, st_mtime, sha) VALUES (?,?,?,?,?)",
                (r.path, r.origin, r.st_size, r.st_mtime, r.sha),
            )

    # -- branch databases -------------------------------------------------------------
    def branch_db(self, remote: str, branch: str) -> BranchDbRow | None:
        row = self._one(f"SELECT {BRANCH_DB_COLS} FROM branch_dbs WHERE remote = ? AND branch = ?",
                        (remote, branch))
        return BranchDbRow(*row) if row else None

    def branch_dbs(self, remote: str | None = None) -> list[BranchDbRow]:
        sql = f"SELECT {BRANCH_DB_COLS} FROM branch_dbs"
        args: tuple = ()
        if remote is not None:
            sql += " WHERE remote = ?"
            args = (remote,)
        return [BranchDbRow(*r) for r in self._all(sql + " ORDER BY branch", args)]

    def put_branch_db(self, row: BranchDbRow) -> None:
        self._exec(
            f"INSERT INTO branch_dbs ({BRANCH_DB_COLS}) VALUES (?,?,?,?,?,?,?) "
            "ON CONFLICT(remote, branch) DO UPDATE SET db_name = excluded.db_name, "
            "url = excluded.url, parent = excluded.parent, created_at = excluded.created_at, "
            "state = excluded.state",
            (row.remote, row.branch, row.db_name, row.url, row.parent, row.created_at, row.state),
        )

    def delete_branch_db(self, remote: str, branch: str) -> None:
        self._exec("DELETE FROM branch_dbs WHERE remote = ? AND branch = ?", (remote, branch))

    # -- experiments (rows as in store/serving.py) ---------------------------------------
    def put_experiment(self, row: tuple) -> None:
        from .serving import upsert_experiment_sql

        self._exec(*upsert_experiment_sql(row))

    # -- repair (fsck --repair) ------------------------------------------------------------
    def children_of(self, version_id: str) -> list[VersionRow]:
        rows = self._all(f"SELECT {VERSION_COLS} FROM versions WHERE parent_version_id = ? "
                         "AND storage = 'diff'", (version_id,))
        return [VersionRow(*r) for r in rows]

    def replace_with_snapshot(self, version_id: str, content: bytes, policy) -> None:
        """Rewrite a version's stored data as a full snapshot of CONTENT (same id)."""
        import zlib

        data, codec = content, "raw"
        if len(content) >= policy.compress_min:
            packed = zlib.compress(content, 6)
            if len(packed) < len(content) * 0.9:
                data, codec = packed, "zlib"
        self._exec("UPDATE versions SET storage = 'snapshot', codec = ?, data = ?, size = ?, "
                   "chain_len = 0, chain_bytes = 0 WHERE id = ?",
                   (codec, data, len(content), version_id))

    def update_chain(self, version_id: str, chain_len: int, chain_bytes: int) -> None:
        self._exec("UPDATE versions SET chain_len = ?, chain_bytes = ? WHERE id = ?",
                   (chain_len, chain_bytes, version_id))

    def replace_commit(self, row: tuple) -> None:
        self._exec(f"INSERT OR REPLACE INTO commits ({COMMIT_COLS}) VALUES (?,?,?,?,?,?,?,?)",
                   tuple(row))

    def replace_changes(self, commit_id: str, rows: Iterable[ChangeRow]) -> None:
        self._exec("DELETE FROM changes WHERE commit_id = ?", (commit_id,))
        self.insert_changes(rows)

    def force_ref(self, name: str, target: str) -> None:
        """Set a ref without a reflog entry (repair: back to its last recorded move)."""
        self._exec("UPDATE refs SET target = ? WHERE name = ?", (target, name))

    # -- checks -----------------------------------------------------------------------
    def integrity_check(self) -> list[str]:
        rows = self._all("PRAGMA integrity_check")
        out = [r[0] for r in rows]
        return [] if out == ["ok"] else out

    def raw_update(self, table: str, column: str, key_col: str, key: str, value: Any) -> None:
        """Test/repair hook: overwrite one column of one row (used by fsck tests)."""
        assert table in {"versions", "commits", "refs", "changes", "reflog"}
        self._exec(f"UPDATE {table} SET {column} = ? WHERE {key_col} = ?", (value, key))
