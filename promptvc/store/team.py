"""The team settings table on a primary: what every clone of it shares.

One table, ``team_settings`` (key -> value), holds the branch-database backend a team uses
(a sqld admin URL or a Turso organisation and group, and the rule for naming branch
databases). Never a token: the keys are a fixed list and none of them holds a secret.
This module is the only place with the table's DDL and its SQL; `promptvc.remote.team`
decides what is recorded and validates what is read back (rows from a primary are
untrusted input).
"""

from __future__ import annotations

import sqlite3

TEAM_SETTINGS_DDL = (
    "CREATE TABLE IF NOT EXISTS team_settings ("
    "key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at TEXT NOT NULL)"
)


def replace_statements(settings: dict[str, str], at: str) -> list[tuple[str, tuple]]:
    """Statements (for one atomic batch on the primary) that make the table hold exactly
    SETTINGS."""
    out: list[tuple[str, tuple]] = [(TEAM_SETTINGS_DDL, ())]
    keys = sorted(settings)
    if keys:
        marks = ", ".join("?" for _ in keys)
        out.append((f"DELETE FROM team_settings WHERE key NOT IN ({marks})", tuple(keys)))
    else:
        out.append(("DELETE FROM team_settings", ()))
    for key in keys:
        out.append(("INSERT INTO team_settings (key, value, updated_at) VALUES (?, ?, ?) "
                    "ON CONFLICT(key) DO UPDATE SET value = excluded.value, "
                    "updated_at = excluded.updated_at "
                    "WHERE team_settings.value != excluded.value", (key, settings[key], at)))
    return out


def read(conn: sqlite3.Connection | None) -> dict[str, str] | None:
    """The settings in a (read-only) replica connection; None when the primary has no
    such table (written by a pvc that did not record team settings)."""
    if conn is None:
        return None
    has = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND "
                       "name = 'team_settings'").fetchone()
    if not has:
        return None
    out: dict[str, str] = {}
    for key, value in conn.execute("SELECT key, value FROM team_settings ORDER BY key"):
        if isinstance(key, str) and isinstance(value, str):
            out[key] = value
    return out
