"""A replica file (`.pvc/remotes/NAME.db`): read it, read-only, and sync it from its primary.

Job: the SQL and the libSQL client calls on a remote's embedded replica. ``ReplicaReader``
reads the rows a fetch imports (standard library sqlite3, ``mode=ro``: nobody but the sync
writes into a replica file); ``sync_file`` is the libSQL sync itself, called only in the sync
child process of promptvc/remote/replica.py (which holds the lock and the deadline).

May import: the standard library, ``team`` (the team settings table), and
libsql_experimental inside ``sync_file`` only (it is heavy, and must not be loaded by a
process that reads).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path


class ReplicaReader:
    """Read-only access to a replica file (stdlib sqlite3, mode=ro)."""

    def __init__(self, path: Path):
        self.path = path
        self.conn: sqlite3.Connection | None = None
        if path.exists():
            self.conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5,
                                        check_same_thread=False)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def _execute(self, sql: str, args: tuple = ()) -> sqlite3.Cursor:
        if self.conn is None:
            raise sqlite3.OperationalError(f"no replica file {self.path}")
        return self.conn.execute(sql, args)

    def _tables(self) -> set[str]:
        if self.conn is None:
            return set()
        return {r[0] for r in self._execute("SELECT name FROM sqlite_master WHERE type='table'")}

    @property
    def initialized(self) -> bool:
        return {"versions", "commits", "changes", "refs"} <= self._tables()

    def refs(self, prefix: str = "refs/heads/") -> dict[str, str]:
        if not self.initialized:
            return {}
        rows = self._execute("SELECT name, target FROM refs WHERE name >= ? AND name < ?",
                             (prefix, prefix + "\U0010ffff"))
        return {r[0]: r[1] for r in rows}

    def branch_dbs(self) -> dict[str, dict]:
        """The branch -> database mapping recorded on this (main) database."""
        if "branch_dbs" not in self._tables():
            return {}
        rows = self._execute(
            "SELECT branch, db_name, url, parent, created_at, state FROM branch_dbs")
        return {r[0]: {"db_name": r[1], "url": r[2], "parent": r[3], "created_at": r[4],
                       "state": r[5]} for r in rows}

    def team_settings(self) -> dict[str, str] | None:
        """The team settings recorded on this (main) database; None if it has none."""
        from .team import read

        return read(self.conn)

    def commit(self, cid: str) -> tuple | None:
        if not self.initialized:
            return None
        return self._execute(
            "SELECT id, tree_id, parent1, parent2, author, committed_at, message, generation "
            "FROM commits WHERE id = ?", (cid,)).fetchone()

    def changes(self, cid: str) -> list[tuple]:
        return self._execute(
            "SELECT commit_id, path, status, old_path, version_id, old_version_id, insertions, "
            "deletions FROM changes WHERE commit_id = ?", (cid,)).fetchall()

    def version(self, vid: str) -> tuple | None:
        if not self.initialized:
            return None
        return self._execute(
            "SELECT id, kind, parent_version_id, parent2_version_id, path, storage, codec, data, "
            "size, chain_len, chain_bytes, created_at FROM versions WHERE id = ?", (vid,)).fetchone()

    def has_version(self, vid: str) -> bool:
        if not self.initialized:
            return False
        return self._execute("SELECT 1 FROM versions WHERE id = ?", (vid,)).fetchone() is not None

    def has_commit(self, cid: str) -> bool:
        if not self.initialized:
            return False
        return self._execute("SELECT 1 FROM commits WHERE id = ?", (cid,)).fetchone() is not None


def sync_file(path: str, url: str, token: str) -> None:  # pragma: no cover - the sync child
    """Bring the replica file PATH up to date with the primary at URL (libSQL embedded
    replica sync). Can block for ever with the GIL held: call it only in a child process
    that is killed at a deadline."""
    import libsql_experimental as libsql

    conn = libsql.connect(path, sync_url=url, auth_token=token)
    conn.sync()
    conn.close()
