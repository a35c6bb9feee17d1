"""Storage layer: the only package with SQL or the libSQL client."""

from . import spec
from .db import Store
from .rows import (BranchDbRow, ChangeRow, CommitRow, ReflogRow, TrackedRow, VersionRow,
                   parents_first)

__all__ = ["spec", "BranchDbRow", "ChangeRow", "CommitRow", "ReflogRow", "Store", "TrackedRow", "VersionRow",
           "parents_first"]
