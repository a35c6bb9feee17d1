"""Schema of a pvc database, as named migration steps.

``PRAGMA user_version`` holds the number of steps applied. A database whose version is
higher than the steps this pvc knows was written by a newer pvc and is refused.

Each step is a list of single statements (never ``executescript``: libsql's swallows
errors, see shared/TURSO.md). Timestamps are ISO 8601 TEXT; no INTEGER column ever holds a
value outside the 32-bit range (libsql binds those as REAL).
"""

from __future__ import annotations


# Experiments and outcome events: the same tables locally, on the primary, and in outboxes.
EXPERIMENT_DDL = [
    """CREATE TABLE IF NOT EXISTS experiments (
        name TEXT PRIMARY KEY,
        arms TEXT NOT NULL,
        split TEXT NOT NULL,
        state TEXT NOT NULL,
        created_at TEXT NOT NULL,
        stopped_at TEXT,
        winner TEXT)""",
    """CREATE TABLE IF NOT EXISTS events (
        id TEXT PRIMARY KEY,
        experiment TEXT NOT NULL,
        unit TEXT NOT NULL,
        arm TEXT NOT NULL,
        metric TEXT NOT NULL,
        value REAL NOT NULL,
        at TEXT NOT NULL)""",
    # running sums per hour bucket: reports never scan the events
    """CREATE TABLE IF NOT EXISTS event_summary (
        experiment TEXT NOT NULL,
        arm TEXT NOT NULL,
        metric TEXT NOT NULL,
        bucket TEXT NOT NULL,
        n INTEGER NOT NULL,
        total REAL NOT NULL,
        total_sq REAL NOT NULL,
        vmin REAL NOT NULL,
        vmax REAL NOT NULL,
        PRIMARY KEY (experiment, arm, metric, bucket))""",
    """CREATE TABLE IF NOT EXISTS experiment_units (
        experiment TEXT NOT NULL,
        unit TEXT NOT NULL,
        arm TEXT NOT NULL,
        bucket TEXT NOT NULL,
        PRIMARY KEY (experiment, unit))""",
    # INSERT OR IGNORE of a replayed event does not fire this: replays are harmless
    """CREATE TRIGGER IF NOT EXISTS events_summarise AFTER INSERT ON events BEGIN
        INSERT INTO event_summary (experiment, arm, metric, bucket, n, total, total_sq, vmin, vmax)
        VALUES (new.experiment, new.arm, new.metric, substr(new.at, 1, 13), 1, new.value,
                new.value * new.value, new.value, new.value)
        ON CONFLICT (experiment, arm, metric, bucket) DO UPDATE SET
            n = n + 1, total = total + excluded.total, total_sq = total_sq + excluded.total_sq,
            vmin = min(vmin, excluded.vmin), vmax = max(vmax, excluded.vmax);
        INSERT OR IGNORE INTO experiment_units (experiment, unit, arm, bucket)
        VALUES (new.experiment, new.unit, new.arm, substr(new.at, 1, 13));
    END""",
]


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
]

SCHEMA_VERSION = len(MIGRATIONS)
