"""The one place pvc reads the wall clock: timestamps for commits, reflog entries and rows.

`PVC_DATE` fixes the time (reproducible tests and imports). Nothing that decides a result
(merge, diff, search ranking) reads the clock; only the dates recorded beside a result do.
"""

from __future__ import annotations

import datetime as _dt
import os


def now_iso() -> str:
    """Now, as an ISO 8601 local time with its offset, to the second (or `PVC_DATE`)."""
    fixed = os.environ.get("PVC_DATE")
    if fixed:
        return fixed
    return _dt.datetime.now().astimezone().isoformat(timespec="seconds")


def now_wall() -> str:
    """Now, ignoring `PVC_DATE`: for status lines that say when something really happened."""
    return _dt.datetime.now().astimezone().isoformat(timespec="seconds")
