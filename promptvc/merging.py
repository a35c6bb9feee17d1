"""Branch merges: merge base, per-file three-way merge, conflict state (placeholder)."""

from __future__ import annotations

from .errors import MergeError


def finish_merge_required(repo) -> None:
    raise MergeError("a merge is in progress",
                     hint="finish it with `pvc merge --continue` or `pvc merge --abort`")
