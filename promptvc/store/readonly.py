"""Read-only access to a pvc database file for serving, and the experiment tables.

Applications read prompts from a pvc database file (a repository's `.pvc/pvc.db`, or an
embedded replica of the primary) with the standard library's sqlite3 opened read-only:
safe beside a process that syncs the replica, and a point read costs microseconds.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from .rows import VERSION_CHAIN_SQL, VersionRow
from .rows import db_id as _b
from .rows import hex_id as _h
from .rows import key_hex as _k
from .schema import EXPERIMENT_DDL  # noqa: F401  (re-exported)
from .spec import columns, outbox_ddl

_EVENTS = ", ".join(columns("events"))
_EXPERIMENTS = ", ".join(columns("experiments"))


class ReadOnlyDb:
    """A pvc database file opened read-only (stdlib sqlite3)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=5,
                                    check_same_thread=False)
        # a local database keeps binary ids (format 2); a replica of a primary keeps hex
        self.compact = bool(self.conn.execute(
            "SELECT 1 FROM pragma_table_info('commits') WHERE name = 'rev'").fetchone())

    def close(self) -> None:
        self.conn.close()

    def _key(self, hex_id: str):
        return _b(hex_id) if self.compact else hex_id

    def tables(self) -> set[str]:
        return {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}

    def search_index(self):
        """The search tables, read-only (FTS5; vectors are scored by the caller)."""
        from .search_index import SearchIndex

        return SearchIndex(lambda sql, args: self.conn.execute(sql, tuple(args)).fetchall(),
                           None, vectors=False)

    # -- what VersionStore needs ------------------------------------------------------------
    def version_chain(self, version_id: str, limit: int = 100_000) -> list[VersionRow]:
        rows = self.conn.execute(VERSION_CHAIN_SQL, (self._key(version_id), limit)).fetchall()
        return [VersionRow(_k(r[0]), r[1], _h(r[2]), _h(r[3]), *r[4:]) for r in rows]

    # -- refs and commits -------------------------------------------------------------------
    def ref(self, name: str) -> str | None:
        row = self.conn.execute("SELECT target FROM refs WHERE name = ?", (name,)).fetchone()
        return _h(row[0]) if row else None

    def resolve(self, names: tuple[str, ...]) -> tuple[str, str] | None:
        """The first of NAMES that exists: (name, target)."""
        for name in names:
            row = self.conn.execute("SELECT target FROM refs WHERE name = ?", (name,)).fetchone()
            if row:
                return name, _k(row[0])
        return None

    def tree_id(self, commit_id: str) -> str | None:
        row = self.conn.execute("SELECT tree_id FROM commits WHERE id = ?",
                                (self._key(commit_id),)).fetchone()
        return _h(row[0]) if row else None

    def branch_dbs(self) -> dict[str, tuple[str, str, str]]:
        """branch -> (db_name, url, state), from a main database or replica."""
        if "branch_dbs" not in self.tables():
            return {}
        cols = {r[1] for r in self.conn.execute("PRAGMA table_info(branch_dbs)")}
        sql = "SELECT branch, db_name, url, state FROM branch_dbs"
        if "remote" in cols:  # a local repository keeps one mapping per remote
            sql += " WHERE remote = 'origin'"
        return {r[0]: (r[1], r[2], r[3]) for r in self.conn.execute(sql)}

    # -- experiments ------------------------------------------------------------------------
    def experiments(self) -> list[tuple]:
        if "experiments" not in self.tables():
            return []
        return self.conn.execute(
            f"SELECT {_EXPERIMENTS} FROM experiments ORDER BY created_at, name").fetchall()

    def experiment(self, name: str) -> tuple | None:
        if "experiments" not in self.tables():
            return None
        return self.conn.execute(
            f"SELECT {_EXPERIMENTS} FROM experiments WHERE name = ?", (name,)).fetchone()

    def summary(self, experiment: str) -> list[tuple]:
        if "event_summary" not in self.tables():
            return []
        return self.conn.execute(
            "SELECT arm, metric, bucket, n, total, total_sq, vmin, vmax FROM event_summary "
            "WHERE experiment = ? ORDER BY arm, metric, bucket", (experiment,)).fetchall()

    def units(self, experiment: str) -> list[tuple]:
        if "experiment_units" not in self.tables():
            return []
        return self.conn.execute(
            "SELECT arm, bucket, count(*) FROM experiment_units WHERE experiment = ? "
            "GROUP BY arm, bucket", (experiment,)).fetchall()


class Outbox:
    """Outcome events waiting to reach their database (a small SQLite file, any process)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(str(self.path), timeout=10, isolation_level=None,
                                    check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode = WAL")
        for sql in outbox_ddl():
            self.conn.execute(sql)

    def add(self, event: tuple) -> None:
        self.conn.execute(f"INSERT OR IGNORE INTO outbox ({_EVENTS}) VALUES (?,?,?,?,?,?,?)", event)

    def pending(self, limit: int = 500) -> list[tuple]:
        return self.conn.execute(
            f"SELECT {_EVENTS} FROM outbox ORDER BY rowid LIMIT ?", (limit,)).fetchall()

    def drop(self, ids: list[str]) -> None:
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            self.conn.execute(f"DELETE FROM outbox WHERE id IN ({','.join('?' * len(chunk))})",
                              chunk)

    def count(self) -> int:
        return self.conn.execute("SELECT count(*) FROM outbox").fetchone()[0]

    def close(self) -> None:
        self.conn.close()


def write_events_local(db_path: Path, events: list[tuple]) -> int:
    """Insert events into a local pvc database (another process may hold it: busy wait)."""
    conn = sqlite3.connect(str(db_path), timeout=30, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        for sql in EXPERIMENT_DDL:
            conn.execute(sql)
        cur = conn.executemany(
            f"INSERT OR IGNORE INTO events ({_EVENTS}) VALUES (?,?,?,?,?,?,?)", events)
        conn.execute("COMMIT")
        return cur.rowcount
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    finally:
        conn.close()


def events_insert_sql(events: list[tuple]) -> list[tuple[str, tuple]]:
    """Statements that insert EVENTS idempotently (for a Hrana batch)."""
    out = []
    for i in range(0, len(events), 200):
        chunk = events[i:i + 200]
        sql = (f"INSERT OR IGNORE INTO events ({_EVENTS}) VALUES "
               + ",".join("(?,?,?,?,?,?,?)" for _ in chunk))
        out.append((sql, tuple(v for e in chunk for v in e)))
    return out


def upsert_experiment_sql(row: tuple) -> tuple[str, tuple]:
    return (f"INSERT INTO experiments ({_EXPERIMENTS}) "
            "VALUES (?,?,?,?,?,?,?) ON CONFLICT(name) DO UPDATE SET arms = excluded.arms, "
            "split = excluded.split, state = excluded.state, stopped_at = excluded.stopped_at, "
            "winner = excluded.winner", row)
