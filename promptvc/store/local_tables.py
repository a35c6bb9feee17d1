"""Queries over the tables a repository keeps for itself: refs and the reflog, state,
tracked files, branch databases and experiments.

Layer: the store's own; built on ``store/connection.py``, rows from ``store/rows.py``.
"""

from __future__ import annotations

from typing import Any, Iterable

from .connection import Connection
from .rows import BRANCH_DB_COLS, BranchDbRow, ReflogRow, TrackedRow
from .rows import db_id as _b
from .rows import hex_id as _h
from .rows import key_hex as _k


class LocalQueries(Connection):
    """Reads and writes of refs, the reflog, state, tracked files and branch databases."""

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

    def delete_state_prefix(self, prefix: str) -> int:
        """Delete every state key that starts with PREFIX; how many there were."""
        cur = self._exec("DELETE FROM state WHERE key >= ? AND key < ?",
                         (prefix, prefix + "\U0010ffff"))
        return max(cur.rowcount, 0)

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

    def delete_branch_dbs(self, remote: str) -> int:
        """Forget every branch-database row of REMOTE (any state); how many there were."""
        cur = self._exec("DELETE FROM branch_dbs WHERE remote = ?", (remote,))
        return max(cur.rowcount, 0)

    # -- experiments (rows as in store/readonly.py) ---------------------------------------
    def put_experiment(self, row: tuple) -> None:
        from .readonly import upsert_experiment_sql

        self._exec(*upsert_experiment_sql(row))
