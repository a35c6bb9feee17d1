"""The embedded replica of a remote primary, kept in `.pvc/remotes/NAME.db`.

Rules from shared/TURSO.md, each of which loses data or hangs when broken:

- exactly one process syncs a replica file: `sync()` runs under an exclusive lock file;
- nobody writes into the replica file: pvc only reads it, read-only, with the standard
  library's sqlite3 (`mode=ro`, ``ReplicaReader`` in promptvc/store/replica_file.py);
- `sync()` can block forever with the GIL held when the primary accepts TCP but never
  answers, so every sync runs in a child process that is SIGKILLed at a deadline;
- libsql's logs go to stdout unless RUST_LOG says otherwise.

Run as a module, this file is that child: `python -m promptvc.remote.replica PATH URL`,
with the token in the environment variable PVC_SYNC_TOKEN (never on the command line).
The libSQL sync itself is ``sync_file`` in promptvc/store/replica_file.py.

May import: the standard library, ``errors``, ``locks`` and promptvc/store/replica_file.py
(no SQL here).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import ErrorCode, PvcError
from ..locks import FileLock
from ..store.replica_file import ReplicaReader

__all__ = ["REPLICA_SUFFIXES", "ReplicaLock", "ReplicaReader", "SyncFailed", "SyncResult",
           "remove_replica", "sync_replica"]

REPLICA_SUFFIXES = ("", "-wal", "-shm", "-client_wal_index", "-info")


class SyncFailed(PvcError):
    """A replica sync failed: ``error_code`` TIMEOUT (``timed_out``), BUSY (another process
    syncs this replica) or SYNC."""

    error_code = ErrorCode.SYNC

    def __init__(self, message: str, *, timed_out: bool = False,
                 error_code: ErrorCode | None = None):
        if error_code is None and timed_out:
            error_code = ErrorCode.TIMEOUT
        super().__init__(message, error_code=error_code)
        self.timed_out = timed_out


@dataclass
class SyncResult:
    seconds: float


class ReplicaLock(FileLock):
    """The lock beside a replica file (one replicator per file)."""

    def __init__(self, path: Path):
        super().__init__(Path(str(path) + ".lock"))


def sync_replica(path: Path, url: str, token: str | None, deadline: float,
                 lock: bool = True) -> SyncResult:
    """Sync the replica at PATH from URL in a child process killed at DEADLINE (monotonic)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    held = None
    if lock:
        held = ReplicaLock(path)
        if not held.acquire(max(0.0, deadline - time.monotonic())):
            raise SyncFailed(f"the replica {path.name} is being synced by another pvc process "
                             "(is the daemon running?)", timed_out=True,
                             error_code=ErrorCode.BUSY)
    try:
        env = dict(os.environ)
        env["RUST_LOG"] = "off"
        env.pop("PVC_SYNC_TOKEN", None)
        if token:
            env["PVC_SYNC_TOKEN"] = token
        started = time.monotonic()
        budget = max(1, int(deadline - time.monotonic()) + 1)
        proc = subprocess.Popen(
            [sys.executable, "-m", "promptvc.remote.replica", str(path), url, str(budget),
             str(os.getpid())],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
            start_new_session=True,
        )
        try:
            out, err = proc.communicate(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise SyncFailed("timed out", timed_out=True) from None
        if proc.returncode != 0:
            text = err.decode("utf-8", "replace").strip().splitlines()
            raise SyncFailed(text[-1] if text else f"sync exited with {proc.returncode}")
        return SyncResult(time.monotonic() - started)
    finally:
        if held:
            held.release()


def _die_with_parent(parent: int) -> None:  # pragma: no cover - runs in the sync child
    """Linux: SIGKILL this child when the process that started it dies (a killed daemon
    must not leave a sync running beside its successor); exit now if it already has."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - not Linux: the deadline alarm still applies
        pass
    if parent and os.getppid() != parent:
        os._exit(4)


def remove_replica(path: Path) -> list[Path]:
    """Delete a replica file and every companion file (all of them, see TURSO.md trap 5)."""
    removed = []
    for suffix in REPLICA_SUFFIXES + (".lock",):
        p = Path(str(path) + suffix)
        if p.exists():
            p.unlink()
            removed.append(p)
    return removed


def _child(path: str, url: str, budget: int, parent: int) -> int:  # pragma: no cover
    """The sync child process."""
    _die_with_parent(parent)
    # the kernel ends this process at its deadline even while libsql holds the GIL
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    signal.alarm(max(1, budget))
    os.environ["RUST_LOG"] = "off"
    from ..store.replica_file import sync_file

    token = os.environ.pop("PVC_SYNC_TOKEN", None) or ""
    try:
        sync_file(path, url, token)
    except BaseException as exc:  # noqa: BLE001 - includes pyo3 PanicException
        msg = str(exc).replace(token, "***") if token else str(exc)
        print(f"sync failed: {msg}", file=sys.stderr)
        return 3
    print(json.dumps({"ok": True}))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(_child(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 60,
                    int(sys.argv[4]) if len(sys.argv) > 4 else 0))
