"""Import a git repository's history into pvc, and export pvc history as a git repository.

Neither direction runs git once per commit:

- import streams the first-parent history (metadata and the blob ids of every change)
  from ONE ``git log --raw -z`` and every file content it needs through ONE
  ``git cat-file --batch`` process, fed by a thread batch by batch in the order the replay
  consumes them, so its memory holds one batch of commits whatever the history's length
  (a resumed import reads the log once more, without the changes, to find where it stops);
- export writes the history as ONE ``git fast-import`` stream (plus ``git init`` before it
  and ``git reset --hard`` after it to fill the working folder).

Imports are idempotent: ``.pvc/git-import-map`` records, for every git commit replayed, the
pvc commit its branch pointed at afterwards. A git commit whose recorded pvc commit is
already in the target branch's history is not replayed again. Replaying is also safe
after a crash: a change that is already on the branch produces no new commit.
"""

from __future__ import annotations

import datetime as _dt
import fnmatch
import os
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

from . import refs as R
from .errors import DirtyWorkingTree, ErrorCode, PathError, PvcError, RefError
from .repo import SHORT, Repo, is_binary

MAP_FILE = "git-import-map"
_REGULAR = ("100644", "100755", "100664")
#: a transaction is committed (and the import map written) after this many commits
BATCH_COMMITS = 500

Progress = Callable[[int, int], None]


class GitError(PvcError):
    """git is missing, a path is not a git repository, or a git process failed."""

    error_code = ErrorCode.GIT


# -- running git ------------------------------------------------------------------------
def _git_env() -> dict[str, str]:
    """The environment for git: no repository override leaks in from a hook or shell."""
    env = dict(os.environ)
    for key in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
                "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_NAMESPACE"):
        env.pop(key, None)
    env["GIT_TERMINAL_PROMPT"] = "0"
    return env


def _git_exe() -> str:
    exe = shutil.which("git")
    if exe is None:
        raise GitError("git was not found on PATH", hint="install git (2.28 or newer) and try again")
    return exe


def _run_git(args: list[str], cwd: Path | None = None, check: bool = True,
             input: bytes | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run([_git_exe(), *args], cwd=cwd, env=_git_env(), input=input,
                          capture_output=True)
    if check and proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GitError(f"`git {args[0]}` failed: {err[-1] if err else f'exit {proc.returncode}'}",
                       hint="run the same git command yourself to see the details")
    return proc


def _git_repo(path: str | os.PathLike) -> Path:
    """The top folder of the git repository at PATH (a working folder or a bare repository)."""
    folder = Path(path)
    if not folder.exists():
        raise GitError(f"'{path}' does not exist", hint="give the path of a git repository")
    if not folder.is_dir():
        raise GitError(f"'{path}' is not a git repository (it is not a folder)",
                       hint="give the folder that holds the .git folder, or a bare repository")
    proc = _run_git(["-C", str(folder), "rev-parse", "--is-bare-repository", "--show-prefix"],
                    check=False)
    if proc.returncode != 0:
        raise GitError(f"'{path}' is not a git repository",
                       hint="give the folder that holds the .git folder, or a bare repository")
    lines = proc.stdout.decode("utf-8", "replace").splitlines()
    bare = lines[0].strip() == "true"
    prefix = lines[1].strip() if len(lines) > 1 else ""
    if not bare and prefix:
        top = _run_git(["-C", str(folder), "rev-parse", "--show-toplevel"]).stdout.decode().strip()
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
    check = _run_git(["-C", str(top), "rev-parse", "--verify", "--quiet", "--end-of-options",
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
    out = _run_git(["-C", str(top), "rev-list", "--first-parent", "--count", _tip(top, rev),
                    "--"])
    return int(out.stdout.decode().strip() or 0)


def iter_history(top: Path, rev: str, raw: bool = True) -> Iterator[GitCommit]:
    """The first-parent history of REV, oldest first, read from `git log` as it arrives
    (memory bounded by one commit, whatever the history's length), with each commit's
    changes against its first parent (renames detected with git's default -M) unless RAW
    is false."""
    tip = _tip(top, rev)
    args = [_git_exe(), "-C", str(top), "-c", "core.quotePath=false", "-c",
            "diff.relative=false", "-c", "log.showSignature=false", "log", "--first-parent",
            "--reverse", "-z", "--no-color", "--no-mailmap", "--encoding=UTF-8",
            f"--format=tformat:{_LOG_FORMAT}"]
    if raw:
        args[args.index("-z") + 1:args.index("-z") + 1] = [
            "-m", "--raw", "--no-abbrev", "-M", "--no-ext-diff", "--no-textconv"]
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(args + [tip, "--"], env=_git_env(), stdout=subprocess.PIPE,
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
            [_git_exe(), "-C", str(top), "cat-file", "--batch"], env=_git_env(),
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


# -- path selection -----------------------------------------------------------------------
class PathFilter:
    """--include/--exclude globs. A glob without '/' matches a file name in any folder; a
    glob with '/' matches the whole path ('*' also crosses '/'). No --include: every path."""

    def __init__(self, include: Iterable[str] = (), exclude: Iterable[str] = ()):
        self.include = [g.lstrip("/") for g in include]
        self.exclude = [g.lstrip("/") for g in exclude]

    @staticmethod
    def _match(path: str, glob: str) -> bool:
        if "/" in glob:
            return fnmatch.fnmatchcase(path, glob) or path.startswith(glob.rstrip("/") + "/")
        return fnmatch.fnmatchcase(path.rsplit("/", 1)[-1], glob)

    def __call__(self, path: str) -> bool:
        if self.include and not any(self._match(path, g) for g in self.include):
            return False
        return not any(self._match(path, g) for g in self.exclude)


def _storable(path: bytes) -> str | None:
    """PATH as pvc stores it, or None when pvc cannot store it."""
    try:
        text = path.decode("utf-8")
    except UnicodeDecodeError:
        return None
    from .paths import path_problem

    if path_problem(text) is not None:  # the one rule for every name pvc accepts
        return None
    return text


# -- import ---------------------------------------------------------------------------------
@dataclass
class ImportResult:
    source: str
    rev: str
    branch: str
    git_commits: int = 0           # commits on the first-parent chain of REV
    already: int = 0               # of those, already imported into BRANCH before this run
    replayed: int = 0              # git commits replayed in this run
    created: int = 0               # pvc commits made (a replayed commit may change nothing)
    versions: int = 0              # file versions written
    binary: dict[str, int] = field(default_factory=dict)   # path -> versions skipped
    unsupported: dict[str, str] = field(default_factory=dict)  # path -> why it was skipped
    old_head: str | None = None
    head: str | None = None
    checkout: str = "not-current"  # updated | dirty | blocked | not-current | unchanged
    checkout_note: str | None = None
    resumed_by: str | None = None  # how already-imported commits were recognised
    seconds: float = 0.0

    def to_json(self) -> dict:
        return {
            "source": self.source, "rev": self.rev, "branch": self.branch,
            "git_commits": self.git_commits, "already_imported": self.already,
            "recognised_by": self.resumed_by,
            "replayed": self.replayed, "commits_created": self.created,
            "versions": self.versions,
            "binary_skipped": {"files": len(self.binary), "versions": sum(self.binary.values()),
                               "paths": sorted(self.binary)},
            "unsupported_skipped": [{"path": p, "why": w} for p, w in sorted(self.unsupported.items())],
            "old_head": self.old_head, "head": self.head,
            "working_files": self.checkout, "working_files_note": self.checkout_note,
            "seconds": round(self.seconds, 3),
        }


def _map_path(repo: Repo) -> Path:
    return repo.pvc_dir / MAP_FILE


def read_import_map(repo: Repo) -> dict[str, set[str]]:
    """git commit sha -> the pvc commits a branch pointed at after replaying it."""
    out: dict[str, set[str]] = {}
    try:
        text = _map_path(repo).read_text(encoding="utf-8")
    except FileNotFoundError:
        return out
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2:
            out.setdefault(parts[0], set()).add(parts[1])
    return out


def _resume_point(repo: Repo, head: str | None, top: Path, rev: str) -> tuple[int, str | None]:
    """How many commits of REV's history (oldest first) are already on the branch whose head
    is HEAD (one streamed pass over the git log, without the file changes).

    The import map decides: the newest git commit whose recorded pvc commit is in the
    branch's history. Without a usable map (a clone, or the map was deleted), the newest git
    commit whose author, date and message equal those of a pvc commit on the branch.
    """
    if head is None:
        return 0, None
    on_branch = repo.store.ancestor_ids([head])
    mapping = read_import_map(repo)
    if mapping:
        found = 0
        for idx, c in enumerate(iter_history(top, rev, raw=False)):
            if mapping.get(c.sha, set()) & on_branch:
                found = idx + 1
        if found:
            return found, "map"
    seen = {(c.author, c.date, c.message) for c in repo.log(head)}
    found = 0
    for idx, c in enumerate(iter_history(top, rev, raw=False)):
        if (c.author, c.date, c.message) in seen:
            found = idx + 1
    return (found, "metadata") if found else (0, None)


def _plan(commit: GitCommit, wanted: PathFilter, result: ImportResult
          ) -> list[tuple[str, str | None, str | None, str | None]]:
    """The steps of one git commit as (kind, path, old_path, blob):
    ('put', path, rename_from | None, blob) or ('del', path, None, None)."""
    steps: list[tuple[str, str | None, str | None, str | None]] = []
    for ch in commit.changes:
        new_path = _storable(ch.path)
        old_raw = ch.old_path if ch.status in "RC" else ch.path
        old_path = _storable(old_raw) if old_raw is not None else None
        if new_path is None and ch.status != "D":
            result.unsupported.setdefault(ch.path.decode("utf-8", "replace"),
                                          "pvc cannot store this path")
        old_in = old_path is not None and ch.status != "A" and ch.old_mode in _REGULAR \
            and wanted(old_path)
        new_ok = ch.status != "D" and new_path is not None and wanted(new_path)
        if new_ok and new_path is not None and ch.new_mode not in _REGULAR:
            kind = "symbolic link" if ch.new_mode == "120000" else \
                "submodule" if ch.new_mode == "160000" else f"mode {ch.new_mode}"
            result.unsupported.setdefault(new_path, f"it is a {kind}")
            new_ok = False
        if ch.status == "C":  # a copy keeps its source: the new path is an addition
            old_in = False
        if ch.status in "RC" and old_path is not None and old_in and not new_ok:
            steps.append(("del", old_path, None, None))
        elif ch.status in "RC" and new_ok:
            steps.append(("put", new_path, old_path if old_in else None, ch.new_blob))
        elif ch.status == "D":
            if old_in:
                steps.append(("del", old_path, None, None))
        elif new_ok:
            steps.append(("put", new_path, None, ch.new_blob))
        elif old_in:  # a regular file became a link or submodule
            steps.append(("del", old_path, None, None))
    return steps


def import_git(repo: Repo, source: str | os.PathLike, rev: str = "HEAD",
               include: Iterable[str] = (), exclude: Iterable[str] = (),
               branch: str | None = None, progress: Progress | None = None) -> ImportResult:
    """Replay the first-parent history of REV in the git repository SOURCE onto BRANCH
    (default: the current branch). See the module docstring."""
    started = time.perf_counter()
    current = repo.current_branch()
    if branch is None:
        if current is None:
            raise RefError("HEAD is detached, so there is no current branch to import onto",
                           hint="give one with --branch NAME")
        branch = current
    R.check_ref_name(branch)
    if branch == current and repo.store.get_state("MERGE_HEAD"):
        raise DirtyWorkingTree(f"a merge is in progress on branch '{branch}'",
                               hint="finish it with `pvc merge --continue` or `pvc merge "
                                    "--abort`, or import onto another branch with --branch")
    top = _git_repo(source)
    total = count_history(top, rev)
    result = ImportResult(str(source), rev, branch, git_commits=total)
    ref = R.HEADS + branch
    is_current = branch == current
    head = repo.store.get_ref(ref)
    result.old_head = result.head = head

    start, result.resumed_by = _resume_point(repo, head, top, rev)
    result.already = start
    todo_count = total - start

    # Only a clean working folder is brought up to date afterwards (see below).
    clean = False
    if is_current and todo_count > 0:
        st = repo.status(untracked=False)
        clean = st.clean and not st.merging
    wanted = PathFilter(include, exclude)

    # The history streams through in batches: BATCH_COMMITS commits are planned, their blobs
    # asked for, and they are written in one transaction; memory holds one batch.
    history = iter_history(top, rev)
    for _ in range(start):
        next(history, None)
    reader: BlobReader | None = None
    map_lines: list[str] = []
    map_file = _map_path(repo)
    done = 0
    try:
        while True:
            batch = []
            for commit in history:
                batch.append((commit, _plan(commit, wanted, result)))
                if len(batch) >= BATCH_COMMITS:
                    break
            if not batch:
                break
            blobs = [blob for _, plan in batch for kind, _, _, blob in plan
                     if kind == "put" and blob]
            if blobs:
                if reader is None:
                    reader = BlobReader(top)
                reader.want(blobs)
            with repo.store.transaction():
                for commit, plan in batch:
                    files: dict[str, bytes | None] = {}
                    renames: dict[str, str] = {}
                    for kind, path, old_path, blob in plan:
                        assert path is not None
                        if kind == "del":
                            files.setdefault(path, None)
                            continue
                        assert blob is not None and reader is not None
                        data = reader.read(blob)
                        if is_binary(data):
                            result.binary[path] = result.binary.get(path, 0) + 1
                            files[path] = None  # a text file that became binary leaves pvc
                            if old_path:
                                files.setdefault(old_path, None)
                            continue
                        files[path] = data
                        if old_path:
                            renames[path] = old_path
                    for new, old in list(renames.items()):
                        if old in files:  # the old path was re-created or deleted here too
                            del renames[new]
                    info = None
                    if files:
                        info = repo.commit_files(files, commit.message, author=commit.author,
                                                 date=commit.date, branch=branch, renames=renames)
                    if info is not None:
                        result.created += 1
                        result.versions += sum(1 for v in files.values() if v is not None)
                        result.head = info.id
                    map_lines.append(f"{commit.sha} {result.head or '-'}\n")
                    done += 1
                    result.replayed += 1
                    if progress:
                        progress(done, todo_count)
            # the batch is committed: record it (a crash before this line only means the
            # next run replays these commits again, which changes nothing)
            if map_lines:
                with open(map_file, "a", encoding="utf-8") as fh:
                    fh.writelines(map_lines)
                map_lines.clear()
    finally:
        close = getattr(history, "close", None)
        if close is not None:
            close()
        if reader is not None:
            reader.close()
    from .search import after_write

    # the search index's text for the imported versions
    after_write(repo, budget_s=None, max_bytes=None)

    if not is_current:
        result.checkout = "not-current"
    elif result.head == result.old_head:
        result.checkout = "unchanged"
    elif not clean:
        result.checkout = "dirty"
        result.checkout_note = ("the working files were left as they were because they have "
                                "uncommitted changes; `pvc status` now compares them with the "
                                "imported head")
    else:
        try:
            with repo.updating_work():
                # the working folder matches the old head: move it to the new one
                repo.checkout_trees(repo.tree(result.old_head), repo.tree(result.head), [],
                               what="the import")
            result.checkout = "updated"
        except DirtyWorkingTree as exc:
            result.checkout = "blocked"
            result.checkout_note = f"the working files were left as they were: {exc.message}"
    result.seconds = time.perf_counter() - started
    return result


# -- export ---------------------------------------------------------------------------------
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
    exe = _git_exe()
    chain = first_parent_chain(repo, head)
    result = ExportResult(str(dest), branch, head=head)
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    try:
        _run_git(["init", "-q", str(folder)])
        _run_git(["-C", str(folder), "symbolic-ref", "HEAD", R.HEADS + branch])
        result.blobs = _fast_import(repo, exe, folder, branch, chain, progress)
        # fast-import writes objects and the ref only: fill the index and the working folder
        _run_git(["-C", str(folder), "reset", "-q", "--hard"])
        result.git_head = _run_git(["-C", str(folder), "rev-parse", "HEAD"]).stdout.decode().strip()
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
                                env=_git_env(), stdin=subprocess.PIPE,
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


def short(cid: str | None) -> str:
    return cid[:SHORT] if cid else "nothing"


__all__ = ["GitError", "ImportResult", "ExportResult", "import_git", "export_git",
           "read_history", "parse_log", "PathFilter", "read_import_map", "git_date",
           "first_parent_chain", "MAP_FILE"]

