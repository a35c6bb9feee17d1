"""The log filter typed after `/`: ``path:P``, ``author:A``, ``message:M`` (or plain text).

Terms are ANDed; several paths are ORed (a commit touching any of them matches). Values
with spaces are quoted: ``author:"Ada Lovelace" "fix typo"``. Matching of author and
message is case-insensitive substring matching. A quote left open is an error (never a
silent guess that matches nothing).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from promptvc.errors import PvcError

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
    """A LogFilter from what the user typed; unknown prefixes count as message text.
    Raises PvcError when a quote is not closed or the text ends in a lone backslash."""
    try:
        words = shlex.split(text)
    except ValueError as exc:
        if "quotation" in str(exc):
            raise PvcError(f"the filter has an unclosed quote: {text.strip()}",
                           hint='close it (author:"Ada Lovelace") or remove it') from None
        raise PvcError(f"the filter ends with a lone backslash: {text.strip()}",
                       hint="remove it, or type two (\\\\) to search for one") from None
    found: dict[str, list[str]] = {"paths": [], "authors": [], "messages": []}
    for word in words:
        key, sep, value = word.partition(":")
        field = PREFIXES.get(key.lower()) if sep else None
        if field is None:
            found["messages"].append(word)
        elif value:
            found[field].append(value)
    return LogFilter(tuple(found["paths"]), tuple(found["authors"]), tuple(found["messages"]))
