"""The one place that talks to libSQL: connection, transactions, migrations, queries.

Everything above this module calls named methods; no other module holds SQL or imports
the libSQL client (a test enforces it).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Sequence

from ..errors import ErrorCode, IntegrityError, LockedError, PvcError, SchemaError
from .schema import FORMAT2_VERSION, MIGRATIONS, SCHEMA_VERSION
from .spec import columns, local_ddl

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
    vrev: int = 0  # the row's place in stored order (set by iter_versions_stored only)


VERSION_COLS = ", ".join(c for c in columns("versions") if c != "vrev")


def db_id(hex_id: str | None):
    """A hex id as stored (32 bytes). Text that is not hex is returned as it is: a TEXT value
    never equals a BLOB, so a lookup of it finds nothing."""
    if hex_id is None:
        return None
    try:
        return bytes.fromhex(hex_id)
    except (ValueError, TypeError):
        return hex_id


def hex_id(raw) -> str | None:
    """A stored id as hex."""
    if raw is None:
        return None
    return key_hex(raw)


def key_hex(raw: bytes | str) -> str:
    """A stored id of a NOT NULL column as hex."""
    if isinstance(raw, str):
        return raw
    return bytes(raw).hex()


_b, _h, _k = db_id, hex_id, key_hex


def _version(r: Sequence[Any]) -> "VersionRow":
    return VersionRow(_k(r[0]), r[1], _h(r[2]), _h(r[3]), *r[4:])


def _prefix_range(prefix: str) -> tuple[bytes, bytes] | None:
    """The id range [lo, hi] of a hex PREFIX, or None when it is not lowercase hex."""
    if not prefix or len(prefix) > 64 or any(ch not in "0123456789abcdef" for ch in prefix):
        return None
    return (bytes.fromhex(prefix.ljust(64, "0")), bytes.fromhex(prefix.ljust(64, "f")))


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

COMMIT_COLS = ", ".join(c for c in columns("commits") if c != "rev")
# a commit row with its parents' ids (parents are stored as revs)
COMMIT_SELECT = ("SELECT c.id, c.tree_id, p1.id, p2.id, c.author, c.committed_at, c.message, "
                 "c.generation FROM commits c LEFT JOIN commits p1 ON p1.rev = c.parent1 "
                 "LEFT JOIN commits p2 ON p2.rev = c.parent2")


def _commit(r: Sequence[Any]) -> "CommitRow":
    return CommitRow(_k(r[0]), _k(r[1]), _h(r[2]), _h(r[3]), r[4], r[5], r[6], int(r[7]))


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


CHANGE_COLS = ", ".join(columns("changes"))
# a change row with its commit's id (changes are keyed by the commit's rev)
CHANGE_SELECT = ("SELECT c.id, ch.path, ch.status, ch.old_path, ch.version_id, ch.old_version_id, "
                 "ch.insertions, ch.deletions FROM changes ch JOIN commits c ON c.rev = ch.commit_id")


def _change(r: Sequence[Any]) -> "ChangeRow":
    return ChangeRow(_k(r[0]), r[1], r[2], r[3], _h(r[4]), _h(r[5]), r[6], r[7])


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


BRANCH_DB_COLS = ", ".join(columns("branch_dbs"))


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


def parents_first(parents: dict[str, tuple[str, ...]]) -> list[str]:
    """The ids of PARENTS (commit -> its parents) ordered so that each commit comes after
    those of its parents that are among them; otherwise in PARENTS' order."""
    out: list[str] = []
    done: set[str] = set()
    for start in parents:
        stack = [(start, False)]
        while stack:
            c, expanded = stack.pop()
            if c in done or c not in parents:
                continue
            if expanded:
                done.add(c)
                out.append(c)
                continue
            stack.append((c, True))
            stack.extend((p, False) for p in parents[c] if p not in done)
    return out


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
                error_code=ErrorCode.DAMAGED,
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
        has_commits = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'commits'"
        if current == 0 and not self._one(has_commits):
            # a new database: format 2 from the spec, then any later step
            with self.transaction():
                if self.user_version() == 0 and not self._one(has_commits):  # not raced
                    for sql in local_ddl():
                        self._exec(sql)
                    self._exec(f"PRAGMA user_version = {FORMAT2_VERSION}")
                    applied.append("format2")
            current = self.user_version()
        for number, (name, statements) in enumerate(MIGRATIONS, start=1):
            if number <= current:
                continue
            try:
                with self.transaction():
                    if self.user_version() >= number:  # another process applied it first
                        continue
                    for sql in statements:
                        self._exec(sql)
                    self._exec(f"PRAGMA user_version = {number}")
            except ValueError as exc:  # nothing of the step remains (one transaction)
                what = "to format 2" if number == FORMAT2_VERSION else f"(step {name})"
                raise SchemaError(
                    f"cannot upgrade the repository database {self.path} {what}: {exc}; "
                    "nothing was changed",
                    hint="run `pvc fsck` with the pvc that made it, then try again") from None
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
            "SELECT size, chain_len, chain_bytes, storage FROM versions WHERE id = ?",
            (_b(version_id),))
        return (int(row[0]), int(row[1]), int(row[2]), row[3]) if row else None

    def version_path(self, version_id: str) -> str | None:
        """The path a version was stored under (None for a tree, or when it is missing)."""
        row = self._one("SELECT path FROM versions WHERE id = ?", (_b(version_id),))
        return row[0] if row else None

    def has_version(self, version_id: str) -> bool:
        return self._one("SELECT 1 FROM versions WHERE id = ?", (_b(version_id),)) is not None

    def insert_version(self, row: VersionRow) -> None:
        self._exec(
            f"INSERT OR IGNORE INTO versions ({VERSION_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                _b(row.id), row.kind, _b(row.parent_version_id), _b(row.parent2_version_id),
                row.path, row.storage, row.codec, row.data, row.size, row.chain_len,
                row.chain_bytes, row.created_at,
            ),
        )

    def version_chain(self, version_id: str, limit: int = 100_000) -> list[VersionRow]:
        """The rows needed to rebuild a version: its snapshot first, the version last."""
        return [_version(r) for r in self._all(VERSION_CHAIN_SQL, (_b(version_id), limit))]

    def get_version_row(self, version_id: str) -> VersionRow | None:
        row = self._one(f"SELECT {VERSION_COLS} FROM versions WHERE id = ?", (_b(version_id),))
        return _version(row) if row else None

    def iter_versions(self, batch: int = 500) -> Iterator[VersionRow]:
        last = b""
        while True:
            rows = self._all(
                f"SELECT {VERSION_COLS} FROM versions WHERE id > ? ORDER BY id LIMIT ?",
                (last, batch),
            )
            if not rows:
                return
            for r in rows:
                yield _version(r)
            last = rows[-1][0]

    def last_version_mark(self) -> int:
        """A mark of the versions stored so far: iter_versions_stored(after=mark) gives
        only those stored since."""
        row = self._one("SELECT coalesce(max(vrev), 0) FROM versions")
        assert row is not None  # an aggregate always gives one row
        return int(row[0])

    def iter_versions_stored(self, batch: int = 500, kind: str | None = None,
                             after: int = 0) -> Iterator[VersionRow]:
        """Every version (of KIND, if given; stored after the mark AFTER) in the order the
        rows were stored (a diff's base is nearly always stored before it), BATCH rows per
        query: fsck, grep, the pickaxe and fetch stream them with a small cache."""
        last = after
        where = "" if kind is None else "AND kind = ? "
        extra: tuple = () if kind is None else (kind,)
        while True:
            rows = self._all(
                f"SELECT vrev, {VERSION_COLS} FROM versions WHERE vrev > ? {where}ORDER BY vrev "
                "LIMIT ?", (last, *extra, batch))
            if not rows:
                return
            for r in rows:
                yield VersionRow(_k(r[1]), r[2], _h(r[3]), _h(r[4]), r[5], r[6], r[7], r[8],
                                 r[9], r[10], r[11], r[12], vrev=int(r[0]))
            last = rows[-1][0]

    def version_count(self) -> int:
        row = self._one("SELECT count(*) FROM versions")
        assert row is not None  # an aggregate always gives one row
        return int(row[0])

    def versions_of_path(self, path: str) -> list[VersionRow]:
        """Versions first committed under PATH, oldest first (for `debug chain`)."""
        rows = self._all(
            f"SELECT {VERSION_COLS} FROM versions WHERE path = ? AND kind = 'prompt' "
            "ORDER BY created_at, vrev",
            (path,),
        )
        return [_version(r) for r in rows]

    def storage_totals(self) -> dict[str, int]:
        row = self._one(
            "SELECT count(*), coalesce(sum(length(data)),0), coalesce(sum(size),0), "
            "coalesce(sum(storage='snapshot'),0) FROM versions WHERE kind='prompt'"
        )
        assert row is not None  # an aggregate always gives one row
        return {"versions": row[0], "stored": row[1], "full": row[2], "snapshots": row[3]}

    # -- commits ----------------------------------------------------------------------
    def _rev(self, commit_id: str | None) -> int | None:
        if commit_id is None:
            return None
        row = self._one("SELECT rev FROM commits WHERE id = ?", (_b(commit_id),))
        return int(row[0]) if row else None

    def _parent_revs(self, row: CommitRow) -> tuple[int | None, int | None]:
        revs = []
        for p in (row.parent1, row.parent2):
            rev = self._rev(p)
            if p is not None and rev is None:
                raise IntegrityError(
                    f"commit {row.id[:12]} names parent {p[:12]}, which is not in the repository",
                    hint="bring the parent first (fetch it), or run `pvc fsck`")
            revs.append(rev)
        return revs[0], revs[1]

    def insert_commit(self, row: CommitRow) -> None:
        """Insert a commit (once). Its parents must be in the database already."""
        if self._rev(row.id) is not None:
            return
        p1, p2 = self._parent_revs(row)
        self._exec(
            f"INSERT OR IGNORE INTO commits ({COMMIT_COLS}) VALUES (?,?,?,?,?,?,?,?)",
            (_b(row.id), _b(row.tree_id), p1, p2, row.author, row.committed_at,
             row.message, row.generation),
        )

    def insert_commits(self, rows: Iterable[CommitRow]) -> None:
        """Insert commits in any order: parents first (a commit whose parent is neither
        here nor among ROWS is refused, see insert_commit)."""
        pending = {r.id: r for r in sorted(rows, key=lambda r: (r.generation, r.id))}
        for cid in parents_first({c: r.parents for c, r in pending.items()}):
            self.insert_commit(pending[cid])

    def get_commit(self, commit_id: str) -> CommitRow | None:
        row = self._one(f"{COMMIT_SELECT} WHERE c.id = ?", (_b(commit_id),))
        return _commit(row) if row else None

    def commits_with_prefix(self, prefix: str) -> list[str]:
        rng = _prefix_range(prefix)
        if rng is None:
            return []
        return [_k(r[0]) for r in self._all(
            "SELECT id FROM commits WHERE id BETWEEN ? AND ? LIMIT 2", rng)]

    def _reach(self, heads: Sequence[str]) -> set[int]:
        revs = [r for r in (self._rev(h) for h in heads if h) if r is not None]
        if not revs:
            return set()
        parents = dict(self._all("SELECT rev, parent1 FROM commits"))
        merges = dict(self._all("SELECT rev, parent2 FROM commits WHERE parent2 IS NOT NULL"))
        seen: set[int] = set()
        stack = revs
        while stack:
            rev = stack.pop()
            if rev in seen or rev not in parents:
                continue
            seen.add(rev)
            p1 = parents[rev]
            if p1 is not None:
                stack.append(p1)
            p2 = merges.get(rev)
            if p2 is not None:
                stack.append(p2)
        return seen

    def ancestors(self, heads: Sequence[str], limit: int | None = None) -> list[CommitRow]:
        """Every commit reachable from HEADS, newest generation first."""
        reach = self._reach(heads)
        if not reach:
            return []
        out: list[CommitRow] = []
        cur = self._exec(
            f"{COMMIT_SELECT.replace('SELECT c.id', 'SELECT c.rev, c.id', 1)} "
            "ORDER BY c.generation DESC, c.committed_at DESC, c.id")
        while True:
            rows = cur.fetchmany(256)
            if not rows:
                break
            for r in rows:
                if r[0] in reach:
                    out.append(_commit(r[1:]))
                    if limit is not None and len(out) >= limit:
                        return out
            if len(out) == len(reach):
                break
        return out

    def ancestor_ids(self, heads: Sequence[str]) -> set[str]:
        """Ids of every commit reachable from HEADS (a walk over the integer parent revs)."""
        reach = self._reach(heads)
        if not reach:
            return set()
        return {bytes(cid).hex() for rev, cid in self._all("SELECT rev, id FROM commits")
                if rev in reach}

    def commits_in_generations(self, lo: int, hi: int) -> list[CommitRow]:
        """Every commit whose generation is between LO and HI (inclusive): one window of a
        history walk, read through the generation index."""
        return [_commit(r) for r in self._all(
            COMMIT_SELECT.replace("FROM commits c", "FROM commits c INDEXED BY commits_generation", 1)
            + " WHERE c.generation BETWEEN ? AND ?", (int(lo), int(hi)))]

    def generation_range(self) -> tuple[int, int] | None:
        """(lowest, highest) generation of any commit, or None without commits."""
        row = self._one("SELECT min(generation), max(generation) FROM commits")
        return (int(row[0]), int(row[1])) if row and row[0] is not None else None

    def commits_touching(self, paths: Iterable[str]) -> list[CommitRow]:
        """Commits whose change list names any of PATHS (as new or old path)."""
        paths = list(paths)
        if not paths:
            return []
        marks = ",".join("?" for _ in paths)
        rows = self._all(
            f"""{COMMIT_SELECT} WHERE c.rev IN (SELECT commit_id FROM changes
                WHERE path IN ({marks}) OR old_path IN ({marks}))
                ORDER BY c.generation DESC, c.committed_at DESC, c.id""",
            paths + paths,
        )
        return [_commit(r) for r in rows]

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
        last = b""
        while True:
            rows = self._all(f"{COMMIT_SELECT} WHERE c.id > ? ORDER BY c.id LIMIT 1000", (last,))
            if not rows:
                return
            for r in rows:
                yield _commit(r)
            last = rows[-1][0]

    def commit_count(self) -> int:
        row = self._one("SELECT count(*) FROM commits")
        assert row is not None  # an aggregate always gives one row
        return int(row[0])

    # -- changes ----------------------------------------------------------------------
    def insert_changes(self, rows: Iterable[ChangeRow]) -> None:
        revs: dict[str, int | None] = {}
        for c in rows:
            if c.commit_id not in revs:
                revs[c.commit_id] = self._rev(c.commit_id)
            rev = revs[c.commit_id]
            if rev is None:
                raise IntegrityError(f"changes of commit {c.commit_id[:12]}, which is not in the "
                                     "repository", hint="run `pvc fsck`")
            self._exec(
                f"INSERT OR IGNORE INTO changes ({CHANGE_COLS}) VALUES (?,?,?,?,?,?,?,?)",
                (rev, c.path, c.status, c.old_path, _b(c.version_id), _b(c.old_version_id),
                 c.insertions, c.deletions),
            )

    def changes_of(self, commit_id: str) -> list[ChangeRow]:
        return [_change(r) for r in self._all(
            f"{CHANGE_SELECT} WHERE c.id = ? ORDER BY ch.path", (_b(commit_id),))]

    def changes_for_commits(self, commit_ids: Sequence[str]) -> dict[str, list[ChangeRow]]:
        out: dict[str, list[ChangeRow]] = {c: [] for c in commit_ids}
        for start in range(0, len(commit_ids), 500):
            chunk = [_b(c) for c in commit_ids[start:start + 500]]
            marks = ",".join("?" for _ in chunk)
            for r in self._all(
                f"{CHANGE_SELECT} WHERE c.id IN ({marks}) ORDER BY ch.path", chunk,
            ):
                row = _change(r)
                out[row.commit_id].append(row)
        return out

    # -- refs -------------------------------------------------------------------------
    def get_ref(self, name: str) -> str | None:
        row = self._one("SELECT target FROM refs WHERE name = ?", (name,))
        return _h(row[0]) if row else None

    def list_refs(self, prefix: str) -> list[tuple[str, str]]:
        return [
            (r[0], _k(r[1]))
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
                (name, _b(new), at),
            )
        elif new is None:
            cur = self._exec("DELETE FROM refs WHERE name = ? AND target = ?", (name, _b(old)))
        else:
            cur = self._exec(
                "UPDATE refs SET target = ?, updated_at = ? WHERE name = ? AND target = ?",
                (_b(new), at, name, _b(old)),
            )
        return cur.rowcount == 1

    def append_reflog(self, ref: str, old: str | None, new: str | None, who: str, at: str,
                      action: str) -> None:
        self._exec(
            "INSERT INTO reflog (ref, old, new, who, at, action) VALUES (?,?,?,?,?,?)",
            (ref, _b(old), _b(new), who, at, action),
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
        return [ReflogRow(r[0], r[1], _h(r[2]), _h(r[3]), *r[4:]) for r in self._all(sql, args)]

    def all_refs(self) -> list[tuple[str, str]]:
        return [(r[0], _k(r[1])) for r in self._all("SELECT name, target FROM refs ORDER BY name")]

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

    # -- experiments (rows as in store/readonly.py) ---------------------------------------
    def put_experiment(self, row: tuple) -> None:
        from .readonly import upsert_experiment_sql

        self._exec(*upsert_experiment_sql(row))

    # -- repair (fsck --repair) ------------------------------------------------------------
    def children_of(self, version_id: str) -> list[VersionRow]:
        rows = self._all(f"SELECT {VERSION_COLS} FROM versions WHERE parent_version_id = ? "
                         "AND storage = 'diff'", (_b(version_id),))
        return [_version(r) for r in rows]

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
                   (codec, data, len(content), _b(version_id)))

    def iter_version_links(self, batch: int = 2000) -> Iterator[tuple[str, str | None, str, int, int]]:
        """(id, parent version id, storage, chain_len, chain_bytes) of every version in
        stored order, without its data (gc plans its re-delta from these)."""
        last = 0
        while True:
            rows = self._all(
                "SELECT vrev, id, parent_version_id, storage, chain_len, chain_bytes "
                "FROM versions WHERE vrev > ? ORDER BY vrev LIMIT ?", (last, batch))
            if not rows:
                return
            for r in rows:
                yield _k(r[1]), _h(r[2]), r[3], int(r[4]), int(r[5])
            last = rows[-1][0]

    def replace_with_diff(self, version_id: str, codec: str, data: bytes, chain_len: int,
                          chain_bytes: int) -> None:
        """Rewrite a version's stored data as DATA, a diff against its parent (same id)."""
        self._exec("UPDATE versions SET storage = 'diff', codec = ?, data = ?, chain_len = ?, "
                   "chain_bytes = ? WHERE id = ?",
                   (codec, data, chain_len, chain_bytes, _b(version_id)))

    # -- maintenance (gc) -------------------------------------------------------------
    def reflog_expiry_candidates(self) -> list[tuple[int, str]]:
        """(seq, at) of every reflog entry except the newest of each ref: the entries gc
        may expire (a ref always keeps its last move)."""
        return [(int(r[0]), r[1]) for r in self._all(
            "SELECT seq, at FROM reflog WHERE seq NOT IN "
            "(SELECT max(seq) FROM reflog GROUP BY ref) ORDER BY seq")]

    def delete_reflog_entries(self, seqs: Sequence[int]) -> None:
        for i in range(0, len(seqs), 500):
            chunk = [int(s) for s in seqs[i:i + 500]]
            self._exec(f"DELETE FROM reflog WHERE seq IN ({','.join('?' * len(chunk))})", chunk)

    def database_bytes(self) -> int:
        """The database's size: its pages, free ones included."""
        return self._pragma_int("page_count") * self._pragma_int("page_size")

    def _pragma_int(self, name: str) -> int:
        """The value of an integer PRAGMA (these always give one row)."""
        row = self._one(f"PRAGMA {name}")
        assert row is not None
        return int(row[0])

    def bytes_by_table(self) -> dict[str, int]:
        """Bytes of the pages of each table and index (SQLite's dbstat), largest first."""
        return {r[0]: int(r[1]) for r in self._all(
            "SELECT name, sum(pgsize) AS b FROM dbstat GROUP BY name ORDER BY b DESC")}

    def free_bytes(self) -> int:
        """Bytes in free pages (what VACUUM would give back at least)."""
        return self._pragma_int("freelist_count") * self._pragma_int("page_size")

    def vacuum(self) -> None:
        """Rewrite the database compactly (outside any transaction), then refresh the
        planner's statistics."""
        assert not self._depth, "VACUUM cannot run inside a transaction"
        self._exec("VACUUM")
        self._exec("PRAGMA optimize")

    def update_chain(self, version_id: str, chain_len: int, chain_bytes: int) -> None:
        self._exec("UPDATE versions SET chain_len = ?, chain_bytes = ? WHERE id = ?",
                   (chain_len, chain_bytes, _b(version_id)))

    def replace_commit(self, fields: tuple) -> None:
        """Write a commit row as given (repair): in place when its id is here (its rev, and
        so its children's links, stay), else inserted."""
        row = CommitRow(*fields)
        rev = self._rev(row.id)
        if rev is None:
            self.insert_commit(row)
            return
        p1, p2 = self._parent_revs(row)
        self._exec("UPDATE commits SET tree_id = ?, parent1 = ?, parent2 = ?, author = ?, "
                   "committed_at = ?, message = ?, generation = ? WHERE rev = ?",
                   (_b(row.tree_id), p1, p2, row.author, row.committed_at, row.message,
                    row.generation, rev))

    def replace_changes(self, commit_id: str, rows: Iterable[ChangeRow]) -> None:
        self._exec("DELETE FROM changes WHERE commit_id = (SELECT rev FROM commits WHERE id = ?)",
                   (_b(commit_id),))
        self.insert_changes(rows)

    def force_ref(self, name: str, target: str) -> None:
        """Set a ref without a reflog entry (repair: back to its last recorded move)."""
        self._exec("UPDATE refs SET target = ? WHERE name = ?", (_b(target), name))

    # -- search index (queries in store/search_index.py) ------------------------------------
    @property
    def in_transaction(self) -> bool:
        return self._depth > 0

    def savepoint(self, name: str) -> None:
        assert name.isidentifier()
        self._exec(f"SAVEPOINT {name}")

    def release_savepoint(self, name: str) -> None:
        assert name.isidentifier()
        self._exec(f"RELEASE {name}")

    def rollback_to_savepoint(self, name: str) -> bool:
        """Undo the work since savepoint NAME; False when the whole transaction is already
        gone (SQLite rolls back everything after some errors, e.g. a full disk)."""
        assert name.isidentifier()
        try:
            self._exec(f"ROLLBACK TO {name}")
            self._exec(f"RELEASE {name}")
        except Exception:  # noqa: BLE001 - "no such savepoint": the transaction was rolled back
            return False
        return True

    def search_index(self):
        """The search tables of this database (see store/search_index.py)."""
        from .search_index import SearchIndex

        import sqlite3

        return SearchIndex(self._all, self._exec,
                           vectors=not isinstance(self.conn, sqlite3.Connection))

    # -- checks -----------------------------------------------------------------------
    def integrity_check(self) -> list[str]:
        rows = self._all("PRAGMA integrity_check")
        out = [r[0] for r in rows]
        return [] if out == ["ok"] else out

    _ID_COLUMNS = {("versions", "id"), ("versions", "parent_version_id"),
                   ("versions", "parent2_version_id"), ("commits", "id"), ("commits", "tree_id"),
                   ("refs", "target"), ("reflog", "old"), ("reflog", "new"),
                   ("changes", "version_id"), ("changes", "old_version_id")}

    def raw_update(self, table: str, column: str, key_col: str, key: str, value: Any) -> None:
        """Test/repair hook: overwrite one column of one row (used by fsck tests). Keys and
        values are given as callers see them (hex ids); stored as the table keeps them."""
        assert table in {"versions", "commits", "refs", "changes", "reflog"}
        assert column in columns(table) and key_col in columns(table)
        if (table, column) in self._ID_COLUMNS:
            value = _b(value)
        stored: Any = key  # the key as the table keeps it
        if (table, key_col) in self._ID_COLUMNS:
            stored = _b(key)
        if table == "changes" and key_col == "commit_id":
            stored = self._rev(key)
        self._exec(f"UPDATE {table} SET {column} = ? WHERE {key_col} = ?", (value, stored))
