"""The one place that talks to libSQL: ``Store``, a pvc database file and its queries.

``Store`` is the store's one public class. Its methods are grouped by the tables they use:

- ``store/connection.py``: opening, errors, transactions and savepoints, migrations;
- ``store/history_tables.py``: versions, commits, changes (the history a remote shares);
- ``store/local_tables.py``: refs and reflog, state, tracked files, branch databases, experiments;
- ``store/maintenance.py``: repair (``fsck --repair``) and ``gc``;
- ``store/rows.py``: the row types and id conversions.

Everything above the store calls named methods; no other package holds SQL or imports the
libSQL client (a test enforces it).

Layer: the store's own; the modules above, and ``store/search_index.py`` for search.
"""

from __future__ import annotations

from .local_tables import LocalQueries
from .maintenance import MaintenanceQueries

__all__ = ["Store"]


class Store(MaintenanceQueries, LocalQueries):
    """A pvc database file opened with libsql-experimental."""

    def search_index(self):
        """The search tables of this database (see store/search_index.py)."""
        from .search_index import SearchIndex

        import sqlite3

        return SearchIndex(self._all, self._exec,
                           vectors=not isinstance(self.conn, sqlite3.Connection))
