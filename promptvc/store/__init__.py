"""Storage layer: the only package with SQL or the libSQL client."""

from .db import BranchDbRow, ChangeRow, CommitRow, ReflogRow, Store, TrackedRow, VersionRow

__all__ = ["BranchDbRow", "ChangeRow", "CommitRow", "ReflogRow", "Store", "TrackedRow", "VersionRow"]
