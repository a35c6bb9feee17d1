"""push, fetch, pull and clone against a libSQL primary: the entry points, under one name.

Each lives in its own module; this one only gathers their public names for callers that
import them from here (``transfer.push``, ``transfer.fetch``):

- ``push``: one branch's new commits, in one atomic batch (or several, resumable) with a
  compare-and-swap of the branch;
- ``tags``: ``push --tags``, a compare-and-swap per tag;
- ``fetch``: sync the replicas, import and check what they have that we lack; ``pull``;
- ``clone``: a new repository from a primary;
- ``calls``: what they share (replica paths and sync, errors explained, retries, one batch);
- ``incoming``: the checks of every row a primary sends;
- the SQL they send is built in promptvc/store/primary.py.

Local commands never touch the network; a commit never needs the remote.

May import: the modules named above, and nothing else.
"""

from __future__ import annotations

from ..store.primary import SHARED_DDL, announced
from .calls import (PrimaryLost, branch_target, format_error, replica_path, run_batch, sync,
                    with_retries)
from .clone import clone
from .fetch import FetchResult, PullResult, fetch, pull, remote_branches
from .push import PushResult, push
from .tags import TagConflict, push_tags

__all__ = ["SHARED_DDL", "FetchResult", "PrimaryLost", "PullResult", "PushResult", "TagConflict",
           "announced", "branch_target", "clone", "fetch", "format_error", "pull", "push",
           "push_tags", "remote_branches", "replica_path", "run_batch", "sync", "with_retries"]
