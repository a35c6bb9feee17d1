"""The connection to a pvc database file: opening it, transactions, errors, the schema.

``Connection`` is the base of :class:`~promptvc.store.db.Store`. It opens the file with
libsql-experimental (or, on a read-only mount, the standard library's sqlite3 in immutable
mode), turns libSQL's plain ``ValueError``s into pvc errors a user can act on, runs the one
write transaction (``BEGIN IMMEDIATE``, nested calls join it) and applies the migrations.
``_exec``, ``_all`` and ``_one`` are for the query classes built on it (``store/history_tables.py``,
``store/local_tables.py``, ``store/maintenance.py``); nothing outside the store runs SQL.

Layer: the store's own; imports the libSQL client (lazily), ``errors`` and the schema.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any, Iterator, Self, Sequence

from ..errors import ErrorCode, LockedError, PvcError, SchemaError
from .schema import FORMAT2_VERSION, MIGRATIONS, SCHEMA_VERSION
from .spec import local_ddl

# libsql prints coloured INFO logs to stdout unless told otherwise (breaks --json).
os.environ.setdefault("RUST_LOG", "off")


def _libsql():
    import libsql_experimental

    return libsql_experimental


def _read_only_mount(path: str) -> bool:
    try:
        return bool(os.statvfs(os.path.dirname(path) or ".").f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _is_locked(exc: Exception) -> bool:
    text = str(exc).lower()
    return "database is locked" in text or "busy" in text



class Connection:
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
    def transaction(self) -> Iterator[Self]:
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

    # -- checks -----------------------------------------------------------------------
    def integrity_check(self) -> list[str]:
        rows = self._all("PRAGMA integrity_check")
        out = [r[0] for r in rows]
        return [] if out == ["ok"] else out
