"""Storage layer: the only package with SQL or the libSQL client."""

from .db import ChangeRow, CommitRow, ReflogRow, Store, TrackedRow, VersionRow

__all__ = ["ChangeRow", "CommitRow", "ReflogRow", "Store", "TrackedRow", "VersionRow"]
