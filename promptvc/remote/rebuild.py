"""Rebuild a repository whose database is missing, empty or unreadable, from its remote.

`pvc fsck --repair` calls :func:`rebuild_from_remote` when the repository cannot even be
opened. The damaged file is moved aside (``.pvc/pvc.db.damaged-N``, never deleted), a new
database is made, everything the remote has is fetched (checked like every fetch), the local
branches are set to the remote's and HEAD to the remote's ``main`` (or its first branch).
Working files are left exactly as they are: `pvc status` then shows what differs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import RemoteError


@dataclass
class RebuildResult:
    kept_as: Path
    remote: str
    branch: str | None
    commits: int
    branches: list[str]


def _aside(db: Path) -> Path:
    n = 1
    while Path(f"{db}.damaged-{n}").exists():
        n += 1
    kept = Path(f"{db}.damaged-{n}")
    if db.exists():
        os.replace(db, kept)
    else:
        kept.write_bytes(b"")
    for suffix in ("-wal", "-shm"):
        side = Path(str(db) + suffix)
        if side.exists():
            os.replace(side, Path(f"{kept}{suffix}"))
    return kept


def rebuild_from_remote(root: Path) -> RebuildResult:
    from .. import refs as R
    from ..config import Config
    from ..repo import DB_NAME, PVC_DIR, Repo
    from ..store import TrackedRow
    from .remotes import default_remote
    from .fetch import fetch

    pvc = root / PVC_DIR
    config = Config(pvc / "config")
    try:
        remote = default_remote(config)
    except RemoteError:
        raise RemoteError("the repository database is damaged and the repository has no remote "
                          "to restore it from",
                          hint="restore .pvc/pvc.db from a backup; your working files are intact"
                          ) from None
    kept = _aside(pvc / DB_NAME)
    try:
        repo = Repo.init(root)
    except BaseException:
        os.replace(kept, pvc / DB_NAME)
        raise
    try:
        fr = fetch(repo, remote)
        prefix = f"{remote.name}/"
        branches = {n[len(prefix):]: t for n, t in repo.remote_branches() if n.startswith(prefix)}
        chosen = "main" if "main" in branches else (sorted(branches)[0] if branches else None)
        with repo.store.transaction():
            for name, target in sorted(branches.items()):
                repo.move_ref(R.HEADS + name, None, target, f"repair: from {remote.name}")
            if chosen:
                repo.store.set_state("HEAD", R.HEADS + chosen)
                repo.store.replace_tracked(TrackedRow(p, None, None, None, None)
                                           for p in repo.tree(branches[chosen]))
    except BaseException:
        repo.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{pvc / DB_NAME}{suffix}").unlink(missing_ok=True)
        os.replace(kept, pvc / DB_NAME)
        raise
    repo.close()
    return RebuildResult(kept, remote.name, chosen, fr.commits, sorted(branches))
