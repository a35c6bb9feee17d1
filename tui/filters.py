"""The log filter typed after `/`: ``path:P``, ``author:A``, ``message:M`` (or plain text).

Terms are ANDed; several paths are ORed (a commit touching any of them matches). Values
with spaces are quoted: ``author:"Ada Lovelace" "fix typo"``. Matching of author and
message is case-insensitive substring matching.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

PREFIXES = {
    "path": "paths", "p": "paths", "file": "paths",
    "author": "authors", "a": "authors",
    "message": "messages", "msg": "messages", "m": "messages",
}


@dataclass(frozen=True)
class LogFilter:
    paths: tuple[str, ...] = ()
    authors: tuple[str, ...] = ()
    messages: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.paths or self.authors or self.messages)

    def matches(self, author: str, message: str) -> bool:
        """Whether a commit passes the author and message terms (paths are checked by the
        repository, which follows renames)."""
        a, m = author.lower(), message.lower()
        return all(t.lower() in a for t in self.authors) and all(t.lower() in m for t in self.messages)

    def describe(self) -> str:
        parts = [f"path:{_quote(p)}" for p in self.paths]
        parts += [f"author:{_quote(a)}" for a in self.authors]
        parts += [_quote(m) for m in self.messages]
        return " ".join(parts)


def _quote(value: str) -> str:
    return shlex.quote(value) if (" " in value or not value) else value


def parse_filter(text: str) -> LogFilter:
    """A LogFilter from what the user typed; unknown prefixes count as message text."""
    try:
        words = shlex.split(text)
    except ValueError:  # an unbalanced quote: take the words as they are
        words = text.split()
    found: dict[str, list[str]] = {"paths": [], "authors": [], "messages": []}
    for word in words:
        key, sep, value = word.partition(":")
        field = PREFIXES.get(key.lower()) if sep else None
        if field is None:
            found["messages"].append(word)
        elif value:
            found[field].append(value)
    return LogFilter(tuple(found["paths"]), tuple(found["authors"]), tuple(found["messages"]))
