"""Git interoperability, one import away: `import_git` and `export_git` and what they use.

A facade: the code lives in three modules, and this one re-exports their public names so
that ``from promptvc.gitio import X`` keeps working (the CLI's `pvc import git` and `pvc
export git`, the benchmarks, the tests):

- promptvc/gitread.py: running git, reading a first-parent history (`iter_history`,
  `read_history`, `parse_log`) and file contents (`BlobReader`), `GitError`, `short`;
- promptvc/gitimport.py: `import_git` (replaying git history onto a pvc branch), the import
  map (`MAP_FILE`, `read_import_map`), `PathFilter`, `BATCH_COMMITS`;
- promptvc/gitexport.py: `export_git` (one `git fast-import` stream), `git_date`,
  `first_parent_chain`, `EXPORT_BATCH_COMMITS`/`EXPORT_BATCH_BYTES`.

The constants are read where they are used: to change `BATCH_COMMITS` (in a test, say),
set it on promptvc.gitimport, not here.

May import: gitread, gitimport, gitexport (and nothing else; no code lives here).
"""

from __future__ import annotations

from .gitexport import (EXPORT_BATCH_BYTES, EXPORT_BATCH_COMMITS, ExportResult, export_git,
                        first_parent_chain, git_date)
from .gitimport import BATCH_COMMITS, MAP_FILE, ImportResult, PathFilter, import_git, \
    read_import_map
from .gitread import (BlobReader, GitChange, GitCommit, GitError, Progress, count_history,
                      iter_history, parse_log, read_history, short)

__all__ = ["GitError", "ImportResult", "ExportResult", "import_git", "export_git",
           "read_history", "parse_log", "PathFilter", "read_import_map", "git_date",
           "first_parent_chain", "MAP_FILE", "BATCH_COMMITS", "EXPORT_BATCH_COMMITS",
           "EXPORT_BATCH_BYTES", "BlobReader", "GitChange", "GitCommit", "Progress",
           "count_history", "iter_history", "short"]
