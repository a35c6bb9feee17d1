"""The one rule for the file names pvc accepts, applied on every way in.

A tracked path is stored in tree manifests, listed, checked out and pushed; a name that would
break any of these is refused *before anything is written*, wherever it comes from: the user
(`add`, `commit`, `mv`), a git repository being imported, or a primary (`fetch`, `clone`,
`pull`, a branch database). :func:`path_problem` says why a path cannot be stored (or None);
:func:`check_path` raises :class:`~promptvc.errors.PathError` with that reason.

A path is refused when:

- it is empty, absolute, ends with ``/``, has an empty, ``.`` or ``..`` component, or uses
  ``\\`` (a separator on Windows: ``a\\..\\b`` would escape there);
- its first component is ``.pvc`` (pvc's own folder), in any letter case;
- it contains a character that ``str.splitlines`` treats as a line break (``\\n \\r \\v \\f
  \\x1c \\x1d \\x1e \\x85 \\u2028 \\u2029``) or any other control character (Unicode
  category Cc: ``\\x00-\\x1f``, ``\\x7f-\\x9f``);
- it is not valid UTF-8 (a surrogate-escaped byte from the file system);
- a component is longer than :data:`MAX_COMPONENT_BYTES` bytes in UTF-8, so that the
  temporary name ``.NAME.pvc-tmp`` used to write it atomically still fits in the 255 bytes
  every common file system allows;
- the whole path is longer than :data:`MAX_PATH_BYTES` bytes.
"""

from __future__ import annotations

import re
import unicodedata

from .errors import PathError

#: the temporary name used when writing a file is ``.{name}.pvc-tmp``
TMP_PREFIX = "."
TMP_SUFFIX = ".pvc-tmp"
NAME_MAX = 255  # bytes per component on ext4, xfs, btrfs, APFS, NTFS (UTF-16 units there)
MAX_COMPONENT_BYTES = NAME_MAX - len(TMP_PREFIX) - len(TMP_SUFFIX)  # 246
MAX_PATH_BYTES = 1024
PVC_DIR = ".pvc"

_LINE_BREAKS = frozenset("\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029")


def _bad_char(ch: str) -> bool:
    return ch in _LINE_BREAKS or unicodedata.category(ch) == "Cc"


# the same characters in one class: the line breaks above and category Cc (C0, DEL, C1)
_BAD_CHARS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def shown(path: str) -> str:
    """PATH for a message: control characters and undecodable bytes escaped."""
    out = []
    for ch in path:
        if _bad_char(ch) or 0xDC80 <= ord(ch) <= 0xDCFF:
            code = ord(ch) - 0xDC00 if 0xDC80 <= ord(ch) <= 0xDCFF else ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


def path_problem(path: object) -> str | None:
    """Why pvc cannot store PATH (a repository-relative POSIX path), or None if it can."""
    if not isinstance(path, str):
        return "it is not text"
    if not path:
        return "it is empty"
    try:
        raw = path.encode("utf-8")
    except UnicodeEncodeError:
        return "it is not valid UTF-8"
    bad = _BAD_CHARS.search(path)
    if bad is not None:
        ch = bad.group()
        kind = "a line break" if ch in _LINE_BREAKS else "a control character"
        return f"it contains {kind} ({shown(ch)})"
    if path.startswith("/"):
        return "it is absolute"
    if "\\" in path:
        return "it contains a backslash (a path separator on Windows)"
    if len(raw) > MAX_PATH_BYTES:
        return f"it is longer than {MAX_PATH_BYTES} bytes"
    parts = path.split("/")
    if parts[0].lower() == PVC_DIR:
        return "it is inside .pvc/, pvc's own folder"
    for part in parts:
        if part == "":
            return "it has an empty component ('//' or a trailing '/')"
        if part in (".", ".."):
            return f"it has a '{part}' component"
        if len(part.encode("utf-8")) > MAX_COMPONENT_BYTES:
            return (f"the name '{shown(part[:40])}...' is longer than {MAX_COMPONENT_BYTES} bytes "
                    f"(pvc needs {NAME_MAX - MAX_COMPONENT_BYTES} more to write it safely)")
    return None


def check_path(path: object, *, source: str | None = None, hint: str | None = None) -> str:
    """PATH if pvc can store it; else PathError naming it, the reason and what to do.
    SOURCE says where the name came from (for example "the primary 'origin'")."""
    problem = path_problem(path)
    if problem is None and isinstance(path, str):  # path_problem refuses anything else
        return path
    name = shown(path) if isinstance(path, str) else repr(path)
    where = f" from {source}" if source else ""
    raise PathError(f"pvc cannot store the file name '{name}'{where}: {problem}",
                    hint=hint or "rename the file (pvc refuses names it could not check out "
                                 "on every machine)")


def check_paths(paths, *, source: str | None = None, hint: str | None = None) -> None:
    """check_path on every path of PATHS (stops at the first bad one)."""
    for p in paths:
        check_path(p, source=source, hint=hint)
