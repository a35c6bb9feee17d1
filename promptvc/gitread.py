"""Reading git: running git, a repository's first-parent history, and its file contents.

`run_git` runs one git command with `git_env` (no repository override leaks in from a hook
or shell); `git_repo` checks that a path is the top of a git repository. `iter_history`
streams the first-parent history (metadata and, with ``--raw``, the blob ids of every
change) from ONE ``git log -z`` as it arrives, so memory holds one commit whatever the
history's length; `parse_log` parses the same output held in memory. `BlobReader` reads
file contents through ONE ``git cat-file --batch`` process, fed by a thread batch by batch
in the order they will be read. The importer (promptvc/gitimport.py) and the exporter
(promptvc/gitexport.py) build on these; promptvc/gitio.py re-exports the public names.

May import: errors, and repo (only for SHORT, the length of a short commit id).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from .errors import ErrorCode, PvcError
from .repo import SHORT

Progress = Callable[[int, int], None]


class GitError(PvcError):
    """git is missing, a path is not a git repository, or a git process failed."""

    error_code = ErrorCode.GIT


# -- running git ------------------------------------------------------------------------
def git_env() -> dict[str, str]:
    """The environment for git: no repository override leaks in from a hook or shell."""
    env = dict(os.environ)
    for key in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
                "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_NAMESPACE"):
        env.pop(key, None)
    env["GIT_TERMINAL_PROMPT"] = "0"
    return env


def git_exe() -> str:
    """The path of the git program (GitError when it is not on PATH)."""
    exe = shutil.which("git")
    if exe is None:
        raise GitError("git was not found on PATH", hint="install git (2.28 or newer) and try again")
    return exe


def run_git(args: list[str], cwd: Path | None = None, check: bool = True,
            input: bytes | None = None) -> subprocess.CompletedProcess:
    """Run `git ARGS` with git_env(), output captured; GitError on failure when CHECK."""
    proc = subprocess.run([git_exe(), *args], cwd=cwd, env=git_env(), input=input,
                          capture_output=True)
    if check and proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GitError(f"`git {args[0]}` failed: {err[-1] if err else f'exit {proc.returncode}'}",
                       hint="run the same git command yourself to see the details")
    return proc


def git_repo(path: str | os.PathLike) -> Path:
    """The top folder of the git repository at PATH (a working folder or a bare repository)."""
    folder = Path(path)
    if not folder.exists():
        raise GitError(f"'{path}' does not exist", hint="give the path of a git repository")
    if not folder.is_dir():
        raise GitError(f"'{path}' is not a git repository (it is not a folder)",
                       hint="give the folder that holds the .git folder, or a bare repository")
    proc = run_git(["-C", str(folder), "rev-parse", "--is-bare-repository", "--show-prefix"],
                   check=False)
    if proc.returncode != 0:
        raise GitError(f"'{path}' is not a git repository",
                       hint="give the folder that holds the .git folder, or a bare repository")
    lines = proc.stdout.decode("utf-8", "replace").splitlines()
    bare = lines[0].strip() == "true"
    prefix = lines[1].strip() if len(lines) > 1 else ""
    if not bare and prefix:
        top = run_git(["-C", str(folder), "rev-parse", "--show-toplevel"]).stdout.decode().strip()
        raise GitError(f"'{path}' is a folder inside the git repository at {top}, not its top",
                       hint=f"give {top} and choose files with --include '{prefix}*'")
    return folder.resolve()


# -- reading history ----------------------------------------------------------------------
@dataclass
class GitChange:
    """One entry of `git log --raw`: a file added, modified, deleted, renamed, retyped."""

    status: str  # A, M, D, R, C, T
    old_mode: str
    new_mode: str
    old_blob: str
    new_blob: str
    path: bytes
    old_path: bytes | None = None


@dataclass
class GitCommit:
    sha: str
    parents: list[str]
    name: str
    email: str
    date: str  # strict ISO 8601 with offset (%aI)
    message: str
    changes: list[GitChange] = field(default_factory=list)

    @property
    def author(self) -> str:
        """`Name <email>` as pvc requires it (git allows an empty name; pvc does not)."""
        clean = lambda s: "".join(ch for ch in s if ch not in "<>\n\r").strip()  # noqa: E731
        email = clean(self.email)
        name = clean(self.name) or (email.split("@")[0] if email else "") or "unknown"
        return f"{name} <{email}>"


_LOG_FORMAT = "%H%x00%P%x00%an%x00%ae%x00%aI%x00%B"


def _tip(top: Path, rev: str) -> str:
    check = run_git(["-C", str(top), "rev-parse", "--verify", "--quiet", "--end-of-options",
                     f"{rev}^{{commit}}"], check=False)
    if check.returncode != 0:
        if rev == "HEAD":
            raise GitError(f"the git repository at {top} has no commits",
                           hint="commit something there first, or give --rev BRANCH")
        raise GitError(f"unknown revision '{rev}' in the git repository at {top}",
                       hint=f"see `git -C {top} branch -a` for names")
    return check.stdout.decode().strip()


def count_history(top: Path, rev: str) -> int:
    """The number of commits in the first-parent history of REV."""
    out = run_git(["-C", str(top), "rev-list", "--first-parent", "--count", _tip(top, rev),
                   "--"])
    return int(out.stdout.decode().strip() or 0)


def iter_history(top: Path, rev: str, raw: bool = True) -> Iterator[GitCommit]:
    """The first-parent history of REV, oldest first, read from `git log` as it arrives
    (memory bounded by one commit, whatever the history's length), with each commit's
    changes against its first parent (renames detected with git's default -M) unless RAW
    is false."""
    tip = _tip(top, rev)
    args = [git_exe(), "-C", str(top), "-c", "core.quotePath=false", "-c",
            "diff.relative=false", "-c", "log.showSignature=false", "log", "--first-parent",
            "--reverse", "-z", "--no-color", "--no-mailmap", "--encoding=UTF-8",
            f"--format=tformat:{_LOG_FORMAT}"]
    if raw:
        args[args.index("-z") + 1:args.index("-z") + 1] = [
            "-m", "--raw", "--no-abbrev", "-M", "--no-ext-diff", "--no-textconv"]
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(args + [tip, "--"], env=git_env(), stdout=subprocess.PIPE,
                                stderr=err)
        assert proc.stdout is not None
        try:
            yield from _parse_stream(proc.stdout)
        finally:
            proc.stdout.close()
            if proc.poll() is None:
                proc.kill()
            code = proc.wait()
        if code != 0:
            err.seek(0)
            lines = err.read().decode("utf-8", "replace").strip().splitlines()
            raise GitError(f"`git log` failed in {top}: {lines[-1] if lines else code}",
                           hint="check the repository with `git fsck`")


def read_history(top: Path, rev: str) -> list[GitCommit]:
    """iter_history as a list (for small histories and tests)."""
    return list(iter_history(top, rev))


def _tokens(stream, chunk: int = 1 << 16) -> Iterator[bytes]:
    """The NUL-separated tokens of STREAM, read CHUNK bytes at a time."""
    rest = b""
    while True:
        data = stream.read(chunk)
        if not data:
            break
        parts = (rest + data).split(b"\0")
        rest = parts.pop()
        yield from parts
    if rest:
        yield rest


def parse_log(out: bytes) -> list[GitCommit]:
    """Parse `git log -z --raw --format=<_LOG_FORMAT>` output (see _parse_stream)."""
    import io

    return list(_parse_stream(io.BytesIO(out)))


def _parse_stream(stream) -> Iterator[GitCommit]:
    """Commits from `git log -z [--raw] --format=<_LOG_FORMAT>` output on STREAM.

    Tokens are NUL-separated: six header fields per commit (a message holds no NUL), then
    raw entries (a ``:mode mode blob blob STATUS`` token, possibly led by a newline,
    followed by one path, or two for renames and copies).
    """
    tokens = _tokens(stream)
    pending: bytes | None = None

    def take() -> bytes | None:
        nonlocal pending
        if pending is not None:
            tok, pending = pending, None
            return tok
        return next(tokens, None)

    while True:
        tok = take()
        if tok is None:
            return
        if not tok.strip(b"\n"):
            continue
        header = [tok]
        while len(header) < 6:
            more = take()
            if more is None:
                raise GitError("could not read `git log` output (truncated header)",
                               hint="this is a bug in pvc's git import; please report it")
            header.append(more)
        sha, parents, name, email, date, msg = header
        message = msg.decode("utf-8", "replace")
        if message.endswith("\n"):
            message = message[:-1]  # git ends messages with a newline; `pvc commit -m` does not
        c = GitCommit(sha.decode().strip("\n"), parents.decode().split(),
                      name.decode("utf-8", "replace"), email.decode("utf-8", "replace"),
                      date.decode(), message)
        while True:
            tok = take()
            if tok is None or not tok.lstrip(b"\n").startswith(b":"):
                pending = tok
                break
            meta = tok.lstrip(b"\n")[1:].decode().split()
            old_mode, new_mode, old_blob, new_blob, status = meta[:5]
            letter = status[0]
            first = take()
            if first is None:
                raise GitError("could not read `git log` output (truncated entry)",
                               hint="this is a bug in pvc's git import; please report it")
            if letter in "RC":
                second = take()
                if second is None:
                    raise GitError("could not read `git log` output (truncated entry)",
                                   hint="this is a bug in pvc's git import; please report it")
                c.changes.append(GitChange(letter, old_mode, new_mode, old_blob, new_blob,
                                           second, first))
            else:
                c.changes.append(GitChange(letter, old_mode, new_mode, old_blob, new_blob,
                                           first))
        yield c


class BlobReader:
    """One `git cat-file --batch` process for a whole import. Ids are given in the order
    they will be read, all at once (BLOB_IDS) or batch by batch (want()); a thread writes
    them, so git never waits on us and memory stays bounded by what is in flight."""

    def __init__(self, top: Path, blob_ids: list[str] | None = None):
        import queue

        self.proc = subprocess.Popen(
            [git_exe(), "-C", str(top), "cat-file", "--batch"], env=git_env(),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self._queue: queue.Queue[list[str] | None] = queue.Queue()
        self._writer = threading.Thread(target=self._write, daemon=True)
        self._writer.start()
        if blob_ids:
            self.want(blob_ids)

    def want(self, blob_ids: list[str]) -> None:
        """Ask for BLOB_IDS, to be read in this order after those asked for before."""
        for start in range(0, len(blob_ids), 1000):
            self._queue.put(blob_ids[start:start + 1000])

    def _write(self) -> None:
        stdin = self.proc.stdin
        assert stdin is not None
        try:
            while True:
                ids = self._queue.get()
                if ids is None:
                    break
                stdin.write("".join(b + "\n" for b in ids).encode())
                stdin.flush()
            stdin.close()
        except (BrokenPipeError, ValueError, OSError):
            pass  # the reader stopped early (an error or Ctrl-C); close() reports it

    def read(self, blob: str) -> bytes:
        stdout = self.proc.stdout
        assert stdout is not None
        header = stdout.readline()
        parts = header.split()
        if len(parts) != 3 or parts[0].decode() != blob:
            raise GitError(f"git could not read blob {blob[:12]}: "
                           f"{header.decode('utf-8', 'replace').strip() or 'no answer'}",
                           hint="check the git repository with `git fsck`")
        size = int(parts[2])
        data = stdout.read(size + 1)
        if len(data) != size + 1:
            raise GitError(f"git stopped while sending blob {blob[:12]}",
                           hint="check the git repository with `git fsck`")
        return data[:-1]

    def close(self) -> None:
        self._queue.put(None)
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self._writer.join(timeout=5)
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                if stream:
                    stream.close()
            except OSError:
                pass


def short(cid: str | None) -> str:
    return cid[:SHORT] if cid else "nothing"


__all__ = ["GitError", "GitChange", "GitCommit", "BlobReader", "Progress", "git_env", "git_exe",
           "run_git", "git_repo", "count_history", "iter_history", "read_history", "parse_log",
           "short"]
