"""Export pvc history as a git repository.

The export never runs git once per commit: it writes a branch's first-parent history as
ONE ``git fast-import`` stream (plus ``git init`` before it and ``git reset --hard`` after
it to fill the working folder). Blobs are sent in batches sorted by path, so fast-import
deltas each version against the one before it.

May import: gitread (running git), refs, errors, and repo (for `Repo`; repo does not import
this module).
"""

from __future__ import annotations

import datetime as _dt
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from . import refs as R
from .errors import PathError, RefError
from .gitread import GitError, Progress, git_env, git_exe, run_git
from .repo import Repo


@dataclass
class ExportResult:
    dest: str
    branch: str
    commits: int = 0
    blobs: int = 0
    head: str | None = None
    git_head: str | None = None
    seconds: float = 0.0

    def to_json(self) -> dict:
        return {"dest": self.dest, "branch": self.branch, "commits": self.commits,
                "blobs": self.blobs, "head": self.head, "git_head": self.git_head,
                "seconds": round(self.seconds, 3)}


def git_date(iso: str) -> str:
    """A pvc ISO 8601 date as git's raw `<unix seconds> <+hhmm>` (no offset: UTC)."""
    try:
        when = _dt.datetime.fromisoformat(iso)
    except ValueError:
        raise GitError(f"the date {iso!r} is not ISO 8601; git cannot store it",
                       hint="this commit was written by a tool that bypassed pvc's checks") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=_dt.timezone.utc)
    offset = when.utcoffset() or _dt.timedelta(0)
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    minutes = abs(minutes)
    return f"{int(when.timestamp())} {sign}{minutes // 60:02d}{minutes % 60:02d}"


def _fi_path(path: str) -> bytes:
    """A path for a fast-import command, C-quoted when git would misread it."""
    raw = path.encode("utf-8")
    if not (raw.startswith(b'"') or b"\\" in raw or b"\n" in raw or b" " in raw):
        return raw
    out = bytearray(b'"')
    for byte in raw:
        ch = bytes([byte])
        if ch in (b'"', b"\\"):
            out += b"\\" + ch
        elif ch == b"\n":
            out += b"\\n"
        else:
            out += ch
    return bytes(out + b'"')


def first_parent_chain(repo: Repo, head: str) -> list[str]:
    """HEAD's first-parent chain, oldest first."""
    parents = {c.id: (c.parents[0] if c.parents else None) for c in repo.log(head)}
    chain: list[str] = []
    cid: str | None = head
    while cid is not None:
        chain.append(cid)
        cid = parents.get(cid)
    chain.reverse()
    return chain


def export_git(repo: Repo, dest: str | os.PathLike, branch: str | None = None,
               progress: Progress | None = None) -> ExportResult:
    """Write BRANCH's first-parent history as a new git repository in DEST."""
    started = time.perf_counter()
    if branch is None:
        branch = repo.current_branch()
        if branch is None:
            raise RefError("HEAD is detached, so there is no current branch to export",
                           hint="give one with --branch NAME")
    head = repo.store.get_ref(R.HEADS + branch)
    if head is None:
        if repo.current_branch() == branch:
            raise RefError(f"branch '{branch}' has no commits yet; there is nothing to export",
                           hint="make a commit first with `pvc commit -m MSG`")
        raise RefError(f"branch '{branch}' not found", hint="see `pvc branch` for the list")
    folder = Path(dest)
    if folder.exists() and not folder.is_dir():
        raise PathError(f"cannot export to '{dest}': it exists and is not a folder",
                        hint="give a new or empty folder")
    if folder.is_dir() and any(folder.iterdir()):
        raise PathError(f"cannot export to '{dest}': the folder is not empty",
                        hint="give a new or empty folder")
    exe = git_exe()
    chain = first_parent_chain(repo, head)
    result = ExportResult(str(dest), branch, head=head)
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    try:
        run_git(["init", "-q", str(folder)])
        run_git(["-C", str(folder), "symbolic-ref", "HEAD", R.HEADS + branch])
        result.blobs = _fast_import(repo, exe, folder, branch, chain, progress)
        # fast-import writes objects and the ref only: fill the index and the working folder
        run_git(["-C", str(folder), "reset", "-q", "--hard"])
        result.git_head = run_git(["-C", str(folder), "rev-parse", "HEAD"]).stdout.decode().strip()
    except BaseException:
        # leave nothing half-written behind: DEST was new or empty
        if created:
            shutil.rmtree(folder, ignore_errors=True)
        else:
            for child in folder.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)
        raise
    result.commits = len(chain)
    result.seconds = time.perf_counter() - started
    return result


#: blobs and commits are sent to fast-import in batches of this many commits (or bytes), with
#: each batch's blobs sorted by path: fast-import deltas a blob against the one sent before
#: it, so versions of one file side by side make a small pack quickly
EXPORT_BATCH_COMMITS = 1000
EXPORT_BATCH_BYTES = 64 << 20


def _fast_import(repo: Repo, exe: str, folder: Path, branch: str, chain: list[str],
                 progress: Progress | None) -> int:
    """Stream CHAIN into one `git fast-import`; return the number of blobs written."""
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen([exe, "-C", str(folder), "fast-import", "--quiet"],
                                env=git_env(), stdin=subprocess.PIPE,
                                stdout=subprocess.DEVNULL, stderr=errors)
        assert proc.stdin is not None
        out = proc.stdin
        marks: dict[str, int] = {}
        ref = f"{R.HEADS}{branch}".encode()
        blobs: list[tuple[str, int, bytes]] = []  # (path, mark, content) not yet sent
        commits: list[bytes] = []
        pending = 0
        next_mark = 1

        def flush() -> None:
            nonlocal pending
            for path, mark, data in sorted(blobs, key=lambda b: (b[0], b[1])):
                out.write(b"blob\nmark :%d\ndata %d\n" % (mark, len(data)))
                out.write(data)
                out.write(b"\n")
            out.writelines(commits)
            blobs.clear()
            commits.clear()
            pending = 0

        try:
            out.write(b"feature done\n")
            prev: dict[str, str] = {}
            for n, cid in enumerate(chain, 1):
                info = repo.commit_row(cid)
                tree = repo.tree(cid)
                ops: list[bytes] = []
                for path in sorted(set(prev) - set(tree)):
                    ops.append(b"D " + _fi_path(path) + b"\n")
                for path, vid in sorted(tree.items()):
                    if prev.get(path) == vid:
                        continue
                    mark = marks.get(vid)
                    if mark is None:
                        data = repo.read_version(vid)
                        mark = marks[vid] = next_mark
                        next_mark += 1
                        blobs.append((path, mark, data))
                        pending += len(data)
                    ops.append(b"M 100644 :%d " % mark + _fi_path(path) + b"\n")
                ident = f"{info.author} {git_date(info.committed_at)}".encode()
                message = (info.message + "\n").encode("utf-8")
                commits.append(b"commit " + ref + b"\nmark :%d\n" % next_mark + b"author "
                               + ident + b"\ncommitter " + ident + b"\n"
                               + b"data %d\n" % len(message) + message + b"".join(ops) + b"\n")
                next_mark += 1
                prev = tree
                if len(commits) >= EXPORT_BATCH_COMMITS or pending >= EXPORT_BATCH_BYTES:
                    flush()
                if progress:
                    progress(n, len(chain))
            flush()
            out.write(b"done\n")
            out.close()
        except BrokenPipeError:
            pass  # fast-import died; its error is read below
        except BaseException:
            proc.kill()
            raise
        finally:
            if not out.closed:
                try:
                    out.close()
                except BrokenPipeError:
                    pass
            code = proc.wait()
        if code != 0:
            errors.seek(0)
            lines = errors.read().decode("utf-8", "replace").strip().splitlines()
            raise GitError(f"`git fast-import` failed in {folder}: "
                           f"{lines[0] if lines else f'exit {code}'}",
                           hint="this is likely a bug in pvc's git export; please report it")
    return len(marks)


__all__ = ["ExportResult", "export_git", "git_date", "first_parent_chain",
           "EXPORT_BATCH_COMMITS", "EXPORT_BATCH_BYTES"]
