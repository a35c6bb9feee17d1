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
    (
        "0005_search_index",
        [
            # Search index: derived data, local only (never pushed), rebuilt by
            # `pvc search --reindex`. One row per prompt version (keyed by the version id,
            # i.e. the SHA-256 of its content) with its full text, so grep --all-versions,
            # log -S/-G and snippets read plain text instead of rebuilding diff chains.
            """CREATE TABLE search_docs (
                doc INTEGER PRIMARY KEY,
                version_id TEXT NOT NULL UNIQUE,
                path TEXT,
                content TEXT NOT NULL
            )""",
            # full-text index over search_docs (external content: the text is stored once)
            """CREATE VIRTUAL TABLE search_fts USING fts5(
                path, content, content='search_docs', content_rowid='doc',
                tokenize='porter unicode61')""",
            # key/value bookkeeping: the versions.rowid indexed up to ("text_mark")
            "CREATE TABLE search_state (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
            # one row per embedding model ("space"); its vectors live in search_vec_<space>,
            # created by search_vector_ddl() when the model is first used (the width of an
            # F32_BLOB column is fixed in its DDL and depends on the model)
            """CREATE TABLE search_spaces (
                space INTEGER PRIMARY KEY,
                model TEXT NOT NULL UNIQUE,
                dim INTEGER NOT NULL,
                created_at TEXT NOT NULL
            )""",
            # which commits introduced a version: grep --all-versions, search results
            "CREATE INDEX search_changes_version ON changes(version_id)",
        ],
    ),
]


def search_vector_ddl(space: int, dim: int) -> list[str]:
    """DDL of the vector table of embedding space SPACE (vectors of DIM floats), keyed by
    version id: a version's vector is computed once per model (vectors are cached by content
    hash, which is the version id)."""
    space, dim = int(space), int(dim)
    return [
        f"""CREATE TABLE IF NOT EXISTS search_vec_{space} (
            version_id TEXT NOT NULL UNIQUE,
            embedding F32_BLOB({dim}) NOT NULL
        )""",
        f"CREATE INDEX IF NOT EXISTS search_vec_{space}_idx ON search_vec_{space}"
        "(libsql_vector_idx(embedding, 'metric=cosine'))",
    ]


def search_vector_drop_ddl(space: int) -> list[str]:
    space = int(space)
    return [f"DROP INDEX IF EXISTS search_vec_{space}_idx", f"DROP TABLE IF EXISTS search_vec_{space}"]

SCHEMA_VERSION = len(MIGRATIONS)
