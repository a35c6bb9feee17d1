"""The readers of a pvc database file, as types: what code that reads one may rely on.

Three classes read the same file format read-only, each for its own job:

    store.readonly.ReadOnlyDb    a repository's `.pvc/pvc.db` or a replica, for serving and
                                 for experiment reports
    remote.replica.ReplicaReader a replica of a remote, for fetch, push and repair
    serve's cached reader        ReadOnlyDb plus caches of trees and rebuilt versions

They are passed around by what they can do, not by class, so this module names those
abilities as Protocols: `DatabaseReader` (all three), `PromptReader` (what serving reads),
`ExperimentReader` (what experiment reports read).

Layer: a leaf. It imports nothing of pvc at run time (the row types only while type
checking), so any module may import it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from .store.rows import VersionRow
    from .store.search_index import SearchIndex


class DatabaseReader(Protocol):
    """A pvc database file opened read-only."""

    path: Path

    def close(self) -> None: ...


class VersionChainReader(Protocol):
    """What rebuilding a version needs: its diff chain, oldest first, ending at it."""

    def version_chain(self, version_id: str, limit: int = ...) -> list[VersionRow]: ...


class PromptReader(DatabaseReader, VersionChainReader, Protocol):
    """What serving prompts reads: refs, commits' trees, versions, experiments, the
    branch -> database mapping and the search index."""

    def resolve(self, names: tuple[str, ...]) -> tuple[str, str] | None: ...

    def tree_id(self, commit_id: str) -> str | None: ...

    def branch_dbs(self) -> dict[str, tuple[str, str, str]]: ...

    def experiment(self, name: str) -> tuple | None: ...

    def search_index(self) -> SearchIndex: ...


class ExperimentReader(DatabaseReader, Protocol):
    """What experiment commands read: the experiments and their outcome summaries."""

    def experiments(self) -> list[tuple]: ...

    def experiment(self, name: str) -> tuple | None: ...

    def summary(self, experiment: str) -> list[tuple]: ...

    def units(self, experiment: str) -> list[tuple]: ...
