"""Where a prompt's includes are read from: one snapshot, so a render is consistent.

    TreeSnapshot    the files of one commit (a tree: path -> version id); includes resolve
                    from the same commit as the including file
    FolderSnapshot  the working folder (for `pvc check` and `pvc render PATH`)

Include names resolve like this (first hit wins):
    Handlebars `{{> name}}`   in the including file's folder, then each parent folder up to the
                              root: `_name.prompt`, `name.prompt`, then `_name.EXT` / `name.EXT`
                              (EXT: the including file's extension), then `name` itself
    Jinja `{% include "x" %}` relative to the including file's folder, then to the root;
                              a leading `/` means the root
A name that climbs out of the repository (`../../x`) never resolves.
"""

from __future__ import annotations

import os
import posixpath
from pathlib import Path


class Snapshot:
    key: str | None = None  # identity for caches: a tree id, None when it can change

    def read(self, path: str) -> bytes | None:  # pragma: no cover - interface
        raise NotImplementedError

    def version(self, path: str) -> str | None:
        """A content id of PATH when cheap to know (None otherwise)."""
        return None

    def exists(self, path: str) -> bool:
        return self.read(path) is not None


class TreeSnapshot(Snapshot):
    def __init__(self, tree: dict[str, str], get_version, key: str | None = None):
        self.tree = tree
        self.get_version = get_version
        self.key = key

    def read(self, path: str) -> bytes | None:
        vid = self.tree.get(path)
        return None if vid is None else self.get_version(vid)

    def version(self, path: str) -> str | None:
        return self.tree.get(path)

    def exists(self, path: str) -> bool:
        return path in self.tree


class FolderSnapshot(Snapshot):
    def __init__(self, root: Path):
        self.root = Path(root).resolve()

    def read(self, path: str) -> bytes | None:
        if not _safe(path):
            return None
        full = self.root / path
        try:
            real = Path(os.path.realpath(full))
            real.relative_to(self.root)
        except ValueError:
            return None
        try:
            return full.read_bytes() if full.is_file() else None
        except OSError:
            return None


def _safe(path: str) -> bool:
    return bool(path) and not path.startswith("/") and ".." not in path.split("/") and \
        "\x00" not in path and path.split("/")[0] != ".pvc"


def _norm(path: str) -> str | None:
    if path.startswith("/"):
        path = path.lstrip("/")
    norm = posixpath.normpath(path)
    if norm in (".", "") or norm.startswith("../") or norm == "..":
        return None
    return norm


def candidates(from_path: str, name: str, kind: str) -> list[str]:
    """The paths an include NAME of FROM_PATH may mean, in the order they are tried."""
    folder = posixpath.dirname(from_path)
    out: list[str] = []
    if kind == "jinja":
        if name.startswith("/"):
            bases = [""]
        else:
            bases = [folder, ""] if folder else [""]
        for base in bases:
            p = _norm(posixpath.join(base, name) if base else name)
            if p and p not in out:
                out.append(p)
        return out
    ext = posixpath.splitext(from_path)[1]
    sub, base_name = posixpath.split(name)
    names = [f"_{base_name}.prompt", f"{base_name}.prompt"]
    if ext and ext != ".prompt":
        names += [f"_{base_name}{ext}", f"{base_name}{ext}"]
    if posixpath.splitext(base_name)[1]:
        names.append(base_name)
    folders = []
    f = folder
    while True:
        folders.append(f)
        if not f:
            break
        f = posixpath.dirname(f)
    for f in folders:
        for n in names:
            p = _norm(posixpath.join(f, sub, n))
            if p and p not in out:
                out.append(p)
    return out


def resolve(snapshot: Snapshot, from_path: str, name: str, kind: str) -> str | None:
    for p in candidates(from_path, name, kind):
        if snapshot.exists(p):
            return p
    return None
