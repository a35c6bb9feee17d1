"""`pvc check`: every problem of a set of prompt files, one line each (`path:line: message`).

Problems (code: message):
    front-matter      front matter does not parse: <YAML's reason>
    template          template does not compile: <the engine's reason>
    undeclared        variable 'x' is used but not declared in the front matter
    unused            input 'x' is declared but never used
    include           include 'x' does not resolve
    cycle             include cycle: a.prompt -> b.prompt -> a.prompt
    conflict          leftover conflict marker '<<<<<<<'
    encoding          the file is not UTF-8 text
Variables are compared with declared inputs only where the file declares them (Dotprompt
`input.schema`, Prompty `inputs`, or `inputs:` in any front matter). Variables read by
included files count as used by the file that includes them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import ConfigError
from .formats import PromptError, input_line, parse
from .includes import closure, references
from .sources import Snapshot

# names Jinja provides itself
JINJA_GLOBALS = {"range", "dict", "lipsum", "cycler", "joiner", "namespace", "loop", "self",
                 "varargs", "kwargs", "caller"}
_MARKER = re.compile(r"^(<{7}|>{7}|\|{7})(?: |$)|^={7}$", re.M)


@dataclass(frozen=True)
class Problem:
    path: str
    line: int
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"

    def to_json(self) -> dict:
        return {"path": self.path, "line": self.line, "code": self.code, "message": self.message}


def _strip_location(message: str, path: str) -> str:
    m = re.match(rf"{re.escape(path)}:\d+: ", message)
    return message[m.end():] if m else message


def check_file(snapshot: Snapshot, path: str) -> list[Problem]:
    data = snapshot.read(path)
    if data is None:
        return [Problem(path, 1, "missing", "the file does not exist")]
    out: list[Problem] = []
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        return [Problem(path, line, "encoding", "the file is not UTF-8 text")]
    opened = False
    for m in _MARKER.finditer(text):
        mark = m.group(0)[:7]
        if mark == "<<<<<<<":
            opened = True
        elif mark in ("=======", "|||||||") and not opened:
            continue  # a Markdown heading underline, not a conflict
        out.append(Problem(path, text.count("\n", 0, m.start()) + 1, "conflict",
                           f"leftover conflict marker '{mark}'"))
    doc = parse(text, path)
    if doc.format == "data":
        return out
    if doc.error is not None:
        line, message = doc.error
        out.append(Problem(path, line, "front-matter", message))
        if doc.format in ("dotprompt", "prompty") or not doc.body:
            return out
    try:
        refs = references(doc)
    except PromptError as exc:
        out.append(Problem(path, exc.line or 1, "template", _strip_location(exc.message, path)))
        return out
    inc = closure(snapshot, path, doc, refs)
    for src, name, line in inc.missing:
        if src == path:
            out.append(Problem(path, line, "include", f"include '{name}' does not resolve"))
    for chain, line in inc.cycles:
        out.append(Problem(path, line, "cycle", "include cycle: " + " -> ".join(chain)))
    if doc.inputs is not None and doc.error is None:
        used = dict(inc.variables)
        used.update(refs.variables)
        if doc.engine == "jinja":
            for name in JINJA_GLOBALS:
                used.pop(name, None)
        for name, line in sorted(used.items(), key=lambda kv: (kv[1], kv[0])):
            if name not in doc.inputs:
                out.append(Problem(path, line, "undeclared",
                                   f"variable '{name}' is used but not declared in the front "
                                   "matter"))
        for name in doc.inputs:
            if name not in used:
                out.append(Problem(path, input_line(doc, name), "unused",
                                   f"input '{name}' is declared but never used"))
    return sorted(out, key=lambda p: (p.line, p.code, p.message))


def check_files(snapshot: Snapshot, paths: list[str]) -> list[Problem]:
    out: list[Problem] = []
    for path in paths:
        out.extend(check_file(snapshot, path))
    return out


def on_commit_enabled(config) -> bool:
    """The `check.on_commit` setting (off unless set to true)."""
    raw = config.get("check", "on_commit", "false")
    from ..config import BOOLEANS

    value = str(raw).strip().lower()
    if value in BOOLEANS:
        return BOOLEANS[value]
    raise ConfigError(f"config value check.on_commit = {raw!r} in {config.path} is not true or "
                      "false", hint="set it with `pvc config check.on_commit true` (or false)")


def check_before_commit(repo, paths: list[str] | None,
                        cwd=None) -> tuple[int, list[Problem]]:
    """Check the files a commit of PATHS (None: all changes; relative to CWD, default the
    current folder) would record: (count, problems)."""
    from .sources import FolderSnapshot

    select = [repo.rel(p, cwd) for p in paths] if paths else None
    changes, _ = repo.working_changes(select)
    files = sorted({c.path for c in changes if c.status != "D"})
    return len(files), check_files(FolderSnapshot(repo.root), files)
