"""Ref names (git's check-ref-format rules) and ref namespaces.

Layer: a leaf (promptvc.errors only).
"""

from __future__ import annotations

from .errors import RefError

HEADS = "refs/heads/"
TAGS = "refs/tags/"
REMOTES = "refs/remotes/"

_BAD_CHARS = set(" ~^:?*[\\\x7f")


def ref_name_problem(name: str) -> str | None:
    """Why NAME is not a valid branch or tag name, or None when it is."""
    if not name:
        return "it is empty"
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return "it is not valid UTF-8"
    if name == "@" or name == "HEAD":
        return f"'{name}' is reserved"
    if name.startswith("-"):
        return "it starts with '-'"
    if any(ord(c) < 32 for c in name) or any(c in _BAD_CHARS for c in name):
        return "it contains a space, a control character or one of ~ ^ : ? * [ \\"
    if ".." in name:
        return "it contains '..'"
    if "@{" in name:
        return "it contains '@{'"
    if name.endswith("/") or name.startswith("/") or "//" in name:
        return "it has an empty path component"
    if name.endswith("."):
        return "it ends with '.'"
    for part in name.split("/"):
        if part.startswith("."):
            return "a component starts with '.'"
        if part.endswith(".lock"):
            return "a component ends with '.lock'"
    return None


def check_ref_name(name: str, what: str = "branch") -> str:
    problem = ref_name_problem(name)
    if problem:
        shown = name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        raise RefError(
            f"'{shown}' is not a valid {what} name: {problem}",
            hint="use letters, digits, '-', '_', '.' and '/' (git's ref-name rules)",
        )
    return name


def short(ref: str) -> str:
    for prefix in (HEADS, TAGS, REMOTES):
        if ref.startswith(prefix):
            return ref[len(prefix):]
    return ref
