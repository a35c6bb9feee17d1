"""The working folder: paths users type, ignore rules, the stat cache, file reads and writes.

`WorkTree` knows the repository's root, its config (the prompt globs) and the store's tracked
set and stat cache; it never reads history. `Repo` (promptvc/repo.py) owns one and hands out
its methods; journaled updates of several files (promptvc/journal.py) call `write_work_file`
and `remove_work` here.

May import: config, paths, objects (hashing), errors, store (rows and the Store type).
"""

from __future__ import annotations

import datetime as _dt
import fnmatch
import functools
import os
import stat as _stat
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from .config import Config
from .errors import PathError
from .objects import sha256
from .paths import check_path
from .store import Store, TrackedRow

PVC_DIR = ".pvc"
IGNORED_DIRS = {".pvc", ".git", ".hg", ".svn", ".venv", "venv", "node_modules", "__pycache__"}
TEMP_PATTERNS = ("*.swp", "*.swo", "*.swx", "*~", ".#*", "#*#", "*.tmp", "4913", ".*.kate-swp")


@functools.lru_cache(maxsize=8)
def ignore_spec(patterns: tuple[str, ...]):
    """The compiled .gitignore-style matcher for PATTERNS (pathspec, imported on first use)."""
    import pathspec

    return pathspec.GitIgnoreSpec.from_lines(patterns)


def is_binary(data: bytes) -> str | None:
    """Why DATA is not a text file pvc can version, or None."""
    if b"\0" in data:
        return "it is a binary file (it contains NUL bytes)"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"it is not valid UTF-8 text (bad byte at offset {exc.start})"
    return None


def display(text: str) -> str:
    """TEXT for a message: bytes that are not UTF-8 shown as \\xNN."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def non_utf8_name(rel: str) -> str:
    raw = rel.encode("utf-8", "surrogateescape")
    try:
        raw.decode("utf-8")
        offset = 0
    except UnicodeDecodeError as exc:
        offset = exc.start
    return f"cannot add '{display(rel)}': its name is not valid UTF-8 (bad byte at offset {offset})"


def utf8_ok(text: str) -> bool:
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:  # surrogate-escaped bytes from a non-UTF-8 argument or name
        return False


def under(path: str, sel: str) -> bool:
    return sel == "" or path == sel or path.startswith(sel.rstrip("/") + "/")


@dataclass
class Change:
    """One file's change between two trees (or a tree and the working folder)."""

    status: str  # A, M, D, R
    path: str
    old_path: str | None = None
    old_id: str | None = None
    new_id: str | None = None


class WorkTree:
    """The working folder of a repository rooted at ROOT."""

    def __init__(self, root: Path, config: Config, store: Store):
        self.root = root
        self.config = config
        self.store = store

    def rel(self, user_path: str | os.PathLike, cwd: Path | None = None) -> str:
        """The repository-relative POSIX path of a path the user typed."""
        raw = os.fspath(user_path)
        base = cwd or Path(os.getcwd())
        full = Path(os.path.normpath(os.path.join(base, raw)))
        try:
            rel = full.relative_to(self.root)
        except ValueError:
            # the cwd may be reached through a symlink
            try:
                rel = full.resolve().relative_to(self.root)
            except ValueError:
                raise PathError(
                    f"'{raw}' is outside the repository at {self.root}",
                    hint="give a path inside the repository",
                ) from None
        posix = rel.as_posix()
        if posix == ".":
            return ""
        if not utf8_ok(posix):
            raise PathError(non_utf8_name(posix), hint="rename it; pvc stores file names as UTF-8")
        real = Path(os.path.realpath(full.parent))  # the file itself may be a link: add says so
        try:
            real.relative_to(self.root)
        except ValueError:  # a folder on the way is a link that leads outside
            raise PathError(
                f"'{raw}' is outside the repository at {self.root}",
                hint="give a path inside the repository",
            ) from None
        if posix.split("/")[0] == PVC_DIR:
            raise PathError(f"'{raw}' is inside .pvc/, pvc's own folder",
                            hint="give a path to a prompt file")
        check_path(posix)
        return posix

    def abspath(self, rel: str) -> Path:
        return self.root / rel

    def read_work_file(self, rel: str) -> bytes | None:
        p = self.abspath(rel)
        try:
            if p.is_symlink():
                raise PathError(f"'{rel}' is a symbolic link; pvc tracks regular files only",
                                hint="track the file the link points to")
            return p.read_bytes()
        except FileNotFoundError:
            return None
        except IsADirectoryError:
            return None

    def read_work_bytes(self, rel: str) -> bytes | None:
        """A working file's bytes, or None when there is no regular file."""
        p = self.abspath(rel)
        try:
            if p.is_symlink() or not p.is_file():
                return None
            return p.read_bytes()
        except OSError:
            return None

    def remove_work(self, rel: str) -> None:
        """Delete a working file (and the folders it leaves empty)."""
        check_path(rel)
        try:
            self.abspath(rel).unlink()
        except FileNotFoundError:
            pass
        self.prune_empty_dirs(rel)

    def write_work_file(self, rel: str, data: bytes) -> None:
        """Write one working file atomically (temporary file, then rename). REL is checked
        before any file system call, every folder on the way must stay inside the
        repository (no link leading out), and a failed write (a full disk) leaves no
        temporary file behind."""
        check_path(rel)
        p = self.abspath(rel)
        self.check_inside(rel, p.parent)
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise PathError(f"cannot create the folder for '{rel}': {exc.strerror}",
                            hint="check the working folder (a file where a folder should be, "
                                 "permissions, free space)") from None
        self.check_inside(rel, p.parent)
        tmp = p.with_name(f".{p.name}.pvc-tmp")
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
            os.replace(tmp, p)
        except OSError as exc:
            try:
                tmp.unlink()
            except OSError:
                pass
            raise PathError(f"cannot write '{rel}': {exc.strerror or exc}",
                            hint="free some space (or fix the permissions) and run the command "
                                 "again; nothing else was changed") from None

    def check_inside(self, rel: str, folder: Path) -> None:
        """FOLDER (or its nearest existing ancestor) must resolve inside the repository."""
        probe = folder
        while not probe.exists() and probe != self.root and probe != probe.parent:
            probe = probe.parent
        try:
            Path(os.path.realpath(probe)).relative_to(os.path.realpath(self.root))
        except ValueError:
            raise PathError(f"'{rel}' is behind a symbolic link that leads outside the "
                            "repository; pvc will not write there",
                            hint="remove the link, then run the command again") from None

    def prune_empty_dirs(self, rel: str) -> None:
        parent = self.abspath(rel).parent
        while parent != self.root:
            try:
                parent.rmdir()
            except OSError:
                return
            parent = parent.parent

    def prompt_globs(self) -> list[str]:
        return (self.config.get("core", "prompt_globs") or "").split()

    def ignore_patterns(self) -> list[str]:
        """Editor temp-file patterns, then the lines of `.pvcignore` (gitignore syntax)."""
        pats = list(TEMP_PATTERNS)
        ign = self.root / ".pvcignore"
        if ign.is_file():
            for line in ign.read_text(encoding="utf-8", errors="replace").splitlines():
                line = line.rstrip("\r")
                if line.strip() and not line.startswith("#"):
                    pats.append(line)
        return pats

    def is_ignored(self, rel: str, patterns: list[str] | None = None) -> bool:
        """Is REL (repository-relative, `/`-separated) ignored? Patterns follow .gitignore:
        `**`, `!` negation, `dir/`, a leading `/` anchors at the repository root."""
        patterns = patterns if patterns is not None else self.ignore_patterns()
        parts = rel.split("/")
        if any(p in IGNORED_DIRS for p in parts[:-1]):
            return True
        return ignore_spec(tuple(patterns)).match_file(rel)

    def matches_prompt_globs(self, rel: str) -> bool:
        name = rel.rsplit("/", 1)[-1]
        return any(fnmatch.fnmatchcase(name, g) or fnmatch.fnmatchcase(rel, g) for g in self.prompt_globs())

    def walk_files(self, under: str = "") -> Iterator[str]:
        """Regular files under UNDER (repository-relative), skipping pvc/VCS folders."""
        start = self.abspath(under) if under else self.root
        stack = [start]
        while stack:
            folder = stack.pop()
            try:
                entries = list(os.scandir(folder))
            except OSError:
                continue
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    if entry.name not in IGNORED_DIRS:
                        stack.append(Path(entry.path))
                elif entry.is_file(follow_symlinks=False):
                    yield Path(entry.path).relative_to(self.root).as_posix()

    def hash_file(self, rel: str, row: TrackedRow | None, updates: list) -> str | None:
        p = self.abspath(rel)
        try:
            st = p.lstat()
        except FileNotFoundError:
            return None
        if not _stat.S_ISREG(st.st_mode):
            return None
        mtime = str(st.st_mtime_ns)
        if row is not None and row.sha and row.st_size == st.st_size and row.st_mtime == mtime:
            return row.sha
        try:
            data = p.read_bytes()
        except OSError:
            return None
        digest = sha256(data)
        # racy-git rule: do not cache a stat taken within 2 s of the file's mtime
        if _dt.datetime.now().timestamp() - st.st_mtime > 2:
            updates.append((rel, st.st_size, mtime, digest))
        return digest

    def stat_entry(self, rel: str, data: bytes) -> tuple:
        """What the stat cache may remember about REL, whose content is DATA: nothing when
        the file changed within the last 2 s (racy-git rule: a same-size edit in the same
        mtime tick would otherwise look unchanged)."""
        try:
            st = self.abspath(rel).lstat()
        except FileNotFoundError:
            return (rel, None, None, None)
        if _dt.datetime.now().timestamp() - st.st_mtime > 2:
            return (rel, st.st_size, str(st.st_mtime_ns), sha256(data))
        return (rel, None, None, None)

    def cache_stat(self, rel: str, data: bytes) -> None:
        self.store.set_tracked_stat(*self.stat_entry(rel, data))

    def flush_stat_cache(self, updates: list) -> None:
        if not updates:
            return
        try:
            with self.store.transaction():
                for rel, size, mtime, digest in updates:
                    self.store.set_tracked_stat(rel, size, mtime, digest)
        except Exception:  # noqa: BLE001 - the cache is an optimisation only
            pass
