"""Schema of a pvc database, as named migration steps.

``PRAGMA user_version`` holds the number of steps applied. A database whose version is
higher than the steps this pvc knows was written by a newer pvc and is refused.

Each step is a list of single statements (never ``executescript``: libsql's swallows
errors, see shared/TURSO.md). Timestamps are ISO 8601 TEXT; no INTEGER column ever holds a
value outside the 32-bit range (libsql binds those as REAL).
"""

from __future__ import annotations


from .spec import SEARCH_DDL, SEARCH_TEXT_RESET_DDL, experiment_ddl, table

# Experiments and outcome events: the same tables locally, on the primary, and in outboxes.
EXPERIMENT_DDL = experiment_ddl()


def _format2_steps() -> list[str]:
    """Format 1 -> 2 in place: binary ids, commit revs, WITHOUT ROWID where keyed by id.
    Every row is copied (ids unhexed, nothing recomputed), then the old tables are dropped.
    Commits get revs in (generation, arrival) order, so a parent always has a smaller rev."""
    t = {n: table(n) for n in ("versions", "commits", "changes", "refs", "reflog")}
    out = [t[n].create(name=f"{n}_f2") for n in t]
    out += [
        "INSERT INTO versions_f2 (id, kind, parent_version_id, parent2_version_id, path, "
        "storage, codec, data, size, chain_len, chain_bytes, created_at) SELECT unhex(id), kind, "
        "unhex(parent_version_id), unhex(parent2_version_id), path, storage, codec, data, size, "
        "chain_len, chain_bytes, created_at FROM versions ORDER BY rowid",
        "INSERT INTO commits_f2 (id, tree_id, author, committed_at, message, generation) "
        "SELECT unhex(id), unhex(tree_id), author, committed_at, message, generation FROM commits "
        "ORDER BY generation, rowid",
        "UPDATE commits_f2 SET "
        "parent1 = (SELECT p.rev FROM commits o JOIN commits_f2 p ON p.id = unhex(o.parent1) "
        "WHERE o.id = lower(hex(commits_f2.id))), "
        "parent2 = (SELECT p.rev FROM commits o JOIN commits_f2 p ON p.id = unhex(o.parent2) "
        "WHERE o.id = lower(hex(commits_f2.id)))",
        "INSERT INTO changes_f2 (commit_id, path, status, old_path, version_id, old_version_id, "
        "insertions, deletions) SELECT c.rev, ch.path, ch.status, ch.old_path, "
        "unhex(ch.version_id), unhex(ch.old_version_id), ch.insertions, ch.deletions "
        "FROM changes ch JOIN commits_f2 c ON c.id = unhex(ch.commit_id)",
        "INSERT INTO refs_f2 (name, target, updated_at) SELECT name, unhex(target), updated_at "
        "FROM refs",
        "INSERT INTO reflog_f2 (seq, ref, old, new, who, at, action) SELECT seq, ref, unhex(old), "
        "unhex(new), who, at, action FROM reflog ORDER BY seq",
    ]
    for n in t:
        out += [f"DROP TABLE {n}", f"ALTER TABLE {n}_f2 RENAME TO {n}"]
        out += t[n].create_indexes()
    return out


MIGRATIONS: list[tuple[str, list[str]]] = [
    (
        "0001_initial",
        [
            # A version is one full content (a prompt file's bytes, or a tree manifest),
            # identified by the SHA-256 of that content, stored either as a full snapshot or
            # as a unified diff against parent_version_id.
            """CREATE TABLE versions (
                id TEXT PRIMARY KEY,
                kind TEXT NOT NULL CHECK (kind IN ('prompt', 'tree')),
                parent_version_id TEXT,
                parent2_version_id TEXT,
                path TEXT,
                storage TEXT NOT NULL CHECK (storage IN ('snapshot', 'diff')),
                codec TEXT NOT NULL CHECK (codec IN ('raw', 'zlib')),
                data BLOB NOT NULL,
                size INTEGER NOT NULL,
                chain_len INTEGER NOT NULL,
                chain_bytes INTEGER NOT NULL,
                created_at TEXT NOT NULL
            )""",
            """CREATE TABLE commits (
                id TEXT PRIMARY KEY,
                tree_id TEXT NOT NULL,
                parent1 TEXT,
                parent2 TEXT,
                author TEXT NOT NULL,
                committed_at TEXT NOT NULL,
                message TEXT NOT NULL,
                generation INTEGER NOT NULL
            )""",
            "CREATE INDEX commits_parent1 ON commits(parent1)",
            "CREATE INDEX commits_parent2 ON commits(parent2)",
            # What each commit changed against its first parent: the index behind
            # `log -- PATH` and `log --stat`.
            """CREATE TABLE changes (
                commit_id TEXT NOT NULL,
                path TEXT NOT NULL,
                status TEXT NOT NULL CHECK (status IN ('A', 'M', 'D', 'R')),
                old_path TEXT,
                version_id TEXT,
                old_version_id TEXT,
                insertions INTEGER NOT NULL DEFAULT 0,
                deletions INTEGER NOT NULL DEFAULT 0,
                PRIMARY KEY (commit_id, path)
            )""",
            "CREATE INDEX changes_path ON changes(path)",
            "CREATE INDEX changes_old_path ON changes(old_path) WHERE old_path IS NOT NULL",
            """CREATE TABLE refs (
                name TEXT PRIMARY KEY,
                target TEXT NOT NULL,
                updated_at TEXT NOT NULL
            )""",
            """CREATE TABLE reflog (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                ref TEXT NOT NULL,
                old TEXT,
                new TEXT,
                who TEXT NOT NULL,
                at TEXT NOT NULL,
                action TEXT NOT NULL
            )""",
            "CREATE INDEX reflog_ref ON reflog(ref, seq)",
            # Local working-tree state (never shared): the tracked set and its stat cache.
            """CREATE TABLE tracked (
                path TEXT PRIMARY KEY,
                origin TEXT,
                st_size INTEGER,
                st_mtime TEXT,
                sha TEXT
            )""",
            "CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        ],
    ),
    (
        "0002_commit_graph_indexes",
        [
            # a covering index: reachability scans read only the graph, not the messages
            "CREATE INDEX commits_graph ON commits(id, parent1, parent2)",
            "CREATE INDEX commits_generation ON commits(generation)",
        ],
    ),
    (
        "0003_branch_databases",
        [
            # branch -> database mapping of a remote (copied from the primary on fetch)
            """CREATE TABLE branch_dbs (
                remote TEXT NOT NULL,
                branch TEXT NOT NULL,
                db_name TEXT NOT NULL,
                url TEXT NOT NULL,
                parent TEXT,
                created_at TEXT NOT NULL,
                state TEXT NOT NULL CHECK (state IN ('active', 'frozen', 'deleted')),
                PRIMARY KEY (remote, branch)
            )""",
        ],
    ),
    ("0004_experiments", list(EXPERIMENT_DDL)),
    # format 2 (issue #13); the steps above are format 1, kept as they were
    ("0005_format2_compact_rows", _format2_steps()),
    # the search index (issue #17): derived data, local only
    ("0006_search_index", list(SEARCH_DDL)),
    # the index without a copy of each version's text (derived data: indexed again)
    ("0007_search_contentless", SEARCH_TEXT_RESET_DDL + list(SEARCH_DDL)),
    # the history index holds what each version changed; a tree index ranks one tree
    ("0008_search_changed_lines", SEARCH_TEXT_RESET_DDL + list(SEARCH_DDL)),
]

FORMAT2_VERSION = 5
"""The first schema version of format 2 (binary ids, commit revs)."""

SCHEMA_VERSION = len(MIGRATIONS)
