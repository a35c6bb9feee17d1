"""clone: a new repository made from a primary, and the clean-up after a killed clone.

``clone`` creates the folder, a repository with the remote in it, fetches everything (see
``fetch``) and checks out the chosen branch. While it runs it holds a marker file locked
(``.pvc/CLONING``): a retry into the same folder finds the marker unlocked and clears what the
killed clone left (only the files whose content is what it wrote), then starts afresh.

May import: the standard library, ``refs``, ``errors``, ``locks``, ``objects``, ``repo``
(lazily: it is the repository being made), and ``fetch`` / ``remotes``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable

from .. import refs as R
from ..errors import RemoteError
from .fetch import FetchResult, fetch

if TYPE_CHECKING:
    from ..repo import Repo


def clone(url: str, directory: Path, *, name: str = "origin", token_env: str | None = None,
          branch: str | None = None, progress: Callable[[int, int], None] | None = None
          ) -> tuple[Repo, FetchResult, str | None]:
    """Create DIRECTORY as a new repository with remote NAME and its history (PROGRESS: as
    for fetch)."""
    from ..locks import FileLock
    from ..repo import Repo
    from .remotes import add_remote

    if directory.exists() and any(directory.iterdir()):
        _clear_killed_clone(directory)
    if directory.exists() and any(directory.iterdir()):
        raise RemoteError(f"destination '{directory}' already exists and is not empty",
                          hint="choose a new folder")
    created = not directory.exists()
    # the marker (held locked while the clone runs) lets a retry clear what a killed clone left
    (directory / ".pvc").mkdir(parents=True, exist_ok=True)
    marker = FileLock(directory / ".pvc" / CLONE_MARKER)
    marker.acquire(0)
    try:
        repo = Repo.init(directory)
    except BaseException:
        marker.release()
        raise
    try:
        remote = add_remote(repo.config, name, url, token_env)
        fr = fetch(repo, remote, progress=progress)
        branches = {n[len(name) + 1:]: t for n, t in repo.remote_branches() if n.startswith(name + "/")}
        chosen = branch or ("main" if "main" in branches else (sorted(branches)[0] if branches else None))
        if chosen is not None:
            if chosen not in branches:
                raise RemoteError(f"{name} has no branch '{chosen}'",
                                  hint="branches: " + ", ".join(sorted(branches)))
            with repo.updating_work():
                repo.store.set_state("HEAD", R.HEADS + chosen)
                repo.move_ref(R.HEADS + chosen, None, branches[chosen], f"clone: from {url}")
                repo.checkout_trees({}, repo.tree(branches[chosen]), [], what="clone")
        (directory / ".pvc" / CLONE_MARKER).unlink()
        marker.release()
        return repo, fr, chosen
    except BaseException:
        repo.close()
        marker.release()
        import shutil

        if created:
            shutil.rmtree(directory, ignore_errors=True)
        else:
            shutil.rmtree(directory / ".pvc", ignore_errors=True)
        raise


CLONE_MARKER = "CLONING"


def _clear_killed_clone(directory: Path) -> None:
    """DIRECTORY holds what a killed `pvc clone` left (its marker is there and nobody holds
    it): remove the repository folder and the files that clone wrote (only those whose
    content is what it wrote), so the retry can start afresh."""
    import shutil

    from ..locks import FileLock
    from ..objects import sha256
    from ..repo import Repo

    pvc = directory / ".pvc"
    marker = pvc / CLONE_MARKER
    leftover = marker.exists() or (pvc.is_dir() and not any(pvc.iterdir()))
    if not leftover:
        return
    lock = FileLock(marker)
    if marker.exists() and not lock.acquire(0):
        raise RemoteError(f"another pvc clone into '{directory}' is running",
                          hint="wait for it to finish")
    try:
        if (pvc / "pvc.db").exists():
            try:
                repo = Repo(directory)  # settles the clone's checkout journal, if any
            except Exception:  # noqa: BLE001 - killed before the database was whole
                repo = None
            if repo is not None:
                try:
                    head = repo.head()
                    tree = repo.tree(head) if head else {}
                    for path, vid in tree.items():
                        data = repo.read_work_bytes(path)
                        if data is not None and sha256(data) == vid:
                            repo.remove_work(path)
                finally:
                    repo.close()
        shutil.rmtree(pvc, ignore_errors=True)
    finally:
        lock.release()
