"""Porcelain for a repository's remotes: clone one, add one, remove one.

Part of the porcelain (``promptvc/porcelain.py`` re-exports every name here, and front ends
import them from there): each function is one user action of several steps, returns a
result object and never prints.

May import: ``refs`` and ``promptvc.remote`` (lazily, inside the functions, so importing
the porcelain stays cheap). Must not import click, textual or watchdog, nor print.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import refs as R

if TYPE_CHECKING:  # pragma: no cover - types only
    from .remote.fetch import FetchResult
    from .remote.remotes import Remote

__all__ = ["CloneDone", "CloningEvent", "RemoteRemoved", "add_remote", "clone",
           "clone_directory", "remove_remote"]


def _ignore(_event: Any) -> None:
    """The default on_event: a front end that shows no progress."""


def clone_directory(url: str) -> str:
    """The folder `pvc clone URL` creates when none is given (the rule docs/cli.md states):
    the first label of URL's host name (`mydb-myorg` for libsql://mydb-myorg.turso.io,
    `team` for http://team.localhost:8080), or `prompts` when the host is localhost, an IP
    address, missing, or would make a folder name starting with '-'."""
    import ipaddress
    from urllib.parse import urlsplit

    host = urlsplit(url).hostname or ""
    try:
        ipaddress.ip_address(host)
        return "prompts"
    except ValueError:
        pass
    first = host.split(".")[0]
    if not first or first == "localhost" or first.startswith("-"):
        return "prompts"
    return first


@dataclass
class CloningEvent:
    directory: str


@dataclass
class CloneDone:
    repo: Any  # the new Repo, open: the caller closes it
    directory: str
    fetch: FetchResult
    branch: str | None  # the branch checked out; None for an empty remote


def clone(url: str, directory: str | None = None, *, name: str = "origin",
          token_env: str | None = None, branch: str | None = None,
          on_event: Callable[[Any], None] = _ignore, progress=None) -> CloneDone:
    """Create DIRECTORY (default: clone_directory(URL)) as a new repository with remote
    NAME and its whole history, and check out BRANCH (default: main, else the first).
    Events: CloningEvent before anything is written; PROGRESS(i, total) as each received
    version is checked."""
    from .remote.clone import clone as do_clone

    if directory is None:
        directory = clone_directory(url)
    on_event(CloningEvent(directory))
    repo, fr, chosen = do_clone(url, Path(directory), name=name, token_env=token_env,
                                branch=branch, progress=progress)
    return CloneDone(repo, directory, fr, chosen)


# -- adding and removing a remote ---------------------------------------------------------------
@dataclass
class RemoteRemoved:
    name: str
    refs: list[str]  # the remote-tracking refs deleted (each with a reflog entry)
    replicas: list[Path]  # the replica files deleted, companions (-wal, .lock, ...) included
    branch_dbs: int  # branch-database rows forgotten (the databases stay on the server)

    def to_json(self) -> dict:
        return {"remote": self.name, "refs": self.refs,
                "replicas": [str(p) for p in self.replicas], "branch_dbs": self.branch_dbs}


def _forget_remote(repo, name: str) -> RemoteRemoved:
    """Delete what the repository keeps of remote NAME besides its config: in one store
    transaction its tracking refs (logged), branch-database rows and fetched-tag marks;
    then its replica files, found on disk by name. Each step finds what an interrupted run
    left, so running it again completes it."""
    from .remote.calls import replicas_of
    from .remote.replica import remove_replica

    with repo.store.transaction():
        refs = repo.list_refs(f"{R.REMOTES}{name}/")
        for ref, target in refs:
            repo.move_ref(ref, target, None, f"remote: removed {name}")
        rows = repo.store.delete_branch_dbs(name)
        repo.store.delete_state_prefix(f"fetched.{name}.refs/")
    files: list[Path] = []
    for base in replicas_of(repo, name):
        files += remove_replica(base)
    return RemoteRemoved(name, [ref for ref, _ in refs], files, rows)


def remove_remote(repo, name: str) -> RemoteRemoved:
    """Remove remote NAME: its tracking branches, branch-database rows and replica files,
    then its config section. Killed at any moment, the config still names the remote until
    everything else is gone, and `remove_remote` again finishes the job."""
    from .remote.remotes import remove_remote as remove_from_config
    from .remote.remotes import require_remote

    require_remote(repo.config, name)  # RemoteError when there is no such remote (url or not)
    removed = _forget_remote(repo, name)
    remove_from_config(repo.config, name)
    return removed


def add_remote(repo, name: str, url: str, token_env: str | None = None,
               **branch_opts: str | None) -> Remote:
    """Add remote NAME at URL (options as ``remotes.add_remote``). What the repository still
    keeps of an earlier remote of that name (an older `pvc remote remove` left its
    branch-database rows and replica files behind) is forgotten first, so the new remote
    starts clean."""
    from .remote.remotes import add_remote as add_to_config
    from .remote.remotes import check_remote_name, has_url

    if not has_url(repo.config, check_remote_name(name)):  # none, or a section without a url
        _forget_remote(repo, name)
    return add_to_config(repo.config, name, url, token_env, **branch_opts)
