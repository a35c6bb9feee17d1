"""`pvc grep` and the pickaxe of `pvc log -S/-G`, with git's semantics.

Patterns are POSIX regular expressions as git reads them: basic (BRE) by default, extended
with ``-E``, fixed strings with ``-F``; both are translated to Python's ``re``. Lines are
matched one by one (split on ``\\n``). Every stored version is read by
streaming the version store in stored order (one diff apply per version).

Pickaxe, as in git: ``-S STRING`` keeps commits where the number of occurrences of STRING
in a file differs between the commit and its first parent; ``-G REGEX`` (extended) keeps
commits whose diff has an added or removed line matching REGEX. Merge commits are not
diffed (git log's default), so neither option selects them.
"""

from __future__ import annotations

import fnmatch
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable

from .errors import SearchError

_CLASSES = {
    "alpha": "a-zA-Z", "digit": "0-9", "alnum": "a-zA-Z0-9", "upper": "A-Z", "lower": "a-z",
    "space": r" \t\n\r\f\v", "blank": r" \t", "punct": r"!-/:-@\[-`{-~", "xdigit": "0-9A-Fa-f",
    "cntrl": r"\x00-\x1f\x7f", "print": r" -~", "graph": r"!-~", "word": r"\w",
}


def _bracket(p: str, i: int) -> tuple[str, int]:
    """Translate the POSIX bracket expression starting at P[i] == '['; return it and the
    index after it."""
    j = i + 1
    out = ["["]
    if j < len(p) and p[j] == "^":
        out.append("^")
        j += 1
    first = True
    while j < len(p):
        c = p[j]
        if c == "]" and not first:
            out.append("]")
            return "".join(out), j + 1
        first = False
        if c == "[" and p.startswith("[:", j):
            end = p.find(":]", j + 2)
            if end != -1 and p[j + 2:end] in _CLASSES:
                out.append(_CLASSES[p[j + 2:end]])
                j = end + 2
                continue
        if c in "\\[]^":
            out.append("\\" + c)
        else:
            out.append(c)
        j += 1
    raise SearchError(f"unmatched [ in pattern {p!r}", hint="close the bracket expression")


def _translate(p: str, extended: bool) -> str:
    out: list[str] = []
    i = 0
    at_start = True  # a BRE '*' at the start of an expression is literal
    while i < len(p):
        c = p[i]
        if c == "[":
            part, i = _bracket(p, i)
            out.append(part)
            at_start = False
            continue
        if c == "\\" and i + 1 < len(p):
            n = p[i + 1]
            i += 2
            if n in "<>":
                out.append(r"\b")
            elif not extended and n in "(){}|+?":
                out.append(n)
                at_start = n in "(|"
                continue
            elif n.isdigit() or n in "wWsSbB":
                out.append("\\" + n)
            else:
                out.append(re.escape(n))
            at_start = False
            continue
        i += 1
        if not extended and c in "(){}|+?":
            out.append("\\" + c)
        elif not extended and c == "*" and at_start:
            out.append(r"\*")
        elif c == "\\":
            out.append(r"\\")
        else:
            out.append(c)
        at_start = c == "^" and not out[:-1]
    return "".join(out)


def compile_pattern(pattern: str, *, fixed: bool = False, extended: bool = False,
                    ignore_case: bool = False) -> re.Pattern:
    src = re.escape(pattern) if fixed else _translate(pattern, extended)
    try:
        return re.compile(src, re.IGNORECASE if ignore_case else 0)
    except re.error as exc:
        raise SearchError(f"invalid pattern {pattern!r}: {exc}",
                          hint="use -F to search for the text as it is") from None


def path_matches(path: str, specs: Iterable[str]) -> bool:
    specs = list(specs)
    if not specs:
        return True
    for s in specs:
        s = s.rstrip("/")
        if s in ("", ".") or path == s or path.startswith(s + "/"):
            return True
        if any(ch in s for ch in "*?[") and fnmatch.fnmatchcase(path, s):
            return True
    return False


# -- grep ----------------------------------------------------------------------------------------
@dataclass
class FileMatches:
    prefix: str  # "" (working tree), "REV:" or "c1,c2:" (--all-versions)
    path: str
    lines: list[tuple[int, str, list[tuple[int, int]]]]  # (number, text, spans)
    version: str | None = None
    commits: list[str] = field(default_factory=list)

    def to_json(self, rev: str | None) -> dict:
        return {"rev": rev, "path": self.path, "version": self.version, "commits": self.commits,
                "count": len(self.lines),
                "matches": [{"line": n, "text": t, "spans": [list(s) for s in spans]}
                            for n, t, spans in self.lines]}


def match_lines(rx: re.Pattern, text: str, invert: bool = False
                ) -> list[tuple[int, str, list[tuple[int, int]]]]:
    if not invert and not _may_match(rx, text):  # most texts: one C-level scan
        return []
    out = []
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for n, line in enumerate(lines, 1):
        spans = [m.span() for m in rx.finditer(line) if m.end() > m.start()]
        hit = bool(spans) or (rx.search(line) is not None)
        if hit != invert:
            out.append((n, line, spans if not invert else []))
    return out


_WHOLE: dict[re.Pattern, re.Pattern | None] = {}
# per line, \A and \Z match at the line's ends and a lookbehind sees nothing before the
# line; over a whole text they see the text's ends and the line break before the line
_LINE_BOUND = re.compile(r"\\[AZ]|\(\?<[=!]")


def _whole(rx: re.Pattern) -> re.Pattern | None:
    """RX over a whole text (^ and $ at each line): finds every text that has a matching
    line, and maybe a few more (a class such as [^x] may cross a line break). None when RX
    holds what behaves differently over a whole text than over one line."""
    if rx in _WHOLE:
        return _WHOLE[rx]
    got = None if _LINE_BOUND.search(rx.pattern) else re.compile(rx.pattern,
                                                                  rx.flags | re.MULTILINE)
    _WHOLE[rx] = got
    return got


def _may_match(rx: re.Pattern, text: str) -> bool:
    """False only when no line of TEXT matches RX (one C-level scan of the whole text)."""
    whole = _whole(rx)
    return whole is None or whole.search(text) is not None


def grep_worktree(repo, rx: re.Pattern, specs: list[str], invert: bool = False) -> list[FileMatches]:
    """The tracked files in the working folder, read from the disk (as git grep does)."""
    out = []
    for rel in sorted(repo.store.tracked()):
        if not path_matches(rel, specs):
            continue
        data = repo.read_work_bytes(rel)
        if data is None or b"\0" in data:
            continue
        lines = match_lines(rx, data.decode("utf-8", "replace"), invert)
        if lines:
            out.append(FileMatches("", rel, lines))
    return out


def grep_rev(repo, rev: str, rx: re.Pattern, specs: list[str], invert: bool = False
             ) -> list[FileMatches]:
    cid = repo.resolve(rev)
    tree = {p: v for p, v in repo.tree(cid).items() if path_matches(p, specs)}
    texts = _texts(repo, set(tree.values()))
    out = []
    for path in sorted(tree):
        lines = match_lines(rx, texts[tree[path]], invert)
        if lines:
            out.append(FileMatches(f"{rev}:", path, lines, version=tree[path], commits=[cid]))
    return out


def grep_all_versions(repo, rx: re.Pattern, specs: list[str], invert: bool = False,
                      progress=None) -> list[FileMatches]:
    """Every stored prompt version, each once, with the commits that introduced it."""
    found: list[tuple[str, list]] = []
    total = repo.store.search_index().count_pending(0) if progress else 0
    for i, (vid, content) in enumerate(_all_texts(repo)):
        lines = match_lines(rx, content, invert)
        if lines:
            found.append((vid, lines))
        if progress is not None and total and ((i + 1) % 500 == 0 or i + 1 == total):
            progress(i + 1, total)
    intro = repo.store.search_index().introducing_commits([vid for vid, _ in found])
    out = []
    for vid, lines in found:
        by_path: dict[str, list[str]] = {}
        for cid, path in intro.get(vid, []):
            by_path.setdefault(path, []).append(cid)
        for path, cids in by_path.items():
            if path_matches(path, specs):
                out.append(FileMatches(",".join(c[:8] for c in cids) + ":", path, lines,
                                       version=vid, commits=cids))
    out.sort(key=lambda f: (f.path, repo.commit_row(f.commits[0]).generation, f.commits[0]))
    return out


def _texts(repo, vids: set[str]) -> dict[str, str]:
    return {vid: repo.versions.get(vid).decode("utf-8", "replace") for vid in vids}


def _all_texts(repo):
    """(version id, text) of every stored prompt version, in stored order."""
    for row, data in repo.versions.stream("prompt"):
        yield row.id, data.decode("utf-8", "replace")


# -- pickaxe -------------------------------------------------------------------------------------
def pickaxe(repo, *, string: str | None = None, regex: str | None = None,
            ignore_case: bool = False, specs: list[str] | None = None) -> set[str]:
    """Ids of the (non-merge) commits selected by -S STRING or -G REGEX."""
    ix = repo.store.search_index()
    specs = specs or []
    selected: set[str] = set()
    if string is not None:
        if string == "":
            raise SearchError("-S needs a non-empty string", hint="give the text to look for")
        counts = _occurrences(repo, string, ignore_case)
        for cid, path, old_path, vid, old_vid, status in ix.changes_touching_versions(
                [vid for vid, n in counts.items() if n]):
            if cid in selected:
                continue
            old_n, new_n = counts.get(old_vid or "", 0), counts.get(vid or "", 0)
            for before, after in _sides(path, old_path, status, old_n, new_n, specs):
                if before != after:
                    selected.add(cid)
        return selected
    assert regex is not None
    rx = compile_pattern(regex, extended=True, ignore_case=ignore_case)
    found = _regex_scan(repo, rx)
    def text(vid: str | None) -> str:  # the version store caches the recent texts
        return repo.versions.get(vid).decode("utf-8", "replace") if vid else ""

    def diff_matches(a: str, b: str) -> bool:
        return a != b and any(rx.search(line.rstrip("\n")) for line in changed_lines(a, b))

    for cid, path, old_path, vid, old_vid, status in ix.changes_to_versions(list(found)):
        if old_vid != found[vid]:
            continue  # not against its parent: among the irregular changes below
        for a, b in _sides(path, old_path, status, "old" if old_vid else "", "new", specs):
            if (a, b) == ("old", "new") or diff_matches(text(old_vid) if a else "",
                                                        text(vid) if b else ""):
                selected.add(cid)
                break
    for cid, path, old_path, vid, old_vid, status in ix.irregular_changes():
        if cid in selected:
            continue
        for a, b in _sides(path, old_path, status, "old" if old_vid else "",
                           "new" if vid else "", specs):
            if diff_matches(text(old_vid) if a else "", text(vid) if b else ""):
                selected.add(cid)
                break
    if specs:  # a rename whose other side is outside the pathspec is an add or a delete
        for cid, path, old_path, vid, old_vid, status in ix.renames():
            if cid in selected:
                continue
            for a, b in _sides(path, old_path, status, "old", "new", specs):
                if (a, b) != ("old", "new") and diff_matches(text(old_vid) if a else "",
                                                             text(vid) if b else ""):
                    selected.add(cid)
                    break
    return selected


def _regex_scan(repo, rx: re.Pattern) -> dict[str, str | None]:
    """One pass over the stored prompt versions for -G: version id -> its parent version,
    for each version whose diff against its parent adds or removes a line matching RX (for
    a version without a parent: that has such a line). The diff is computed only over the
    part of the two texts that the stored diff says differs: the lines around it are the
    same in both, so a minimal diff of the whole is a minimal diff of that part, and a
    one-line edit of a long prompt costs one line, not the prompt."""
    found: dict[str, str | None] = {}
    for item in repo.versions.stream_changes("prompt"):
        vid, parent = item.row.id, item.row.parent_version_id
        if parent is None or item.base is None:
            content = item.content.decode("utf-8", "replace")
            if _may_match(rx, content) and any(rx.search(line.rstrip("\n"))
                                               for line in _keep_lines(content)):
                found[vid] = parent
            continue
        a, b = item.base, item.lines or []
        if item.span is not None:
            start, old_end, new_end = item.span
            a, b = a[start:old_end], b[start:new_end]
        before = b"".join(a).decode("utf-8", "replace")
        after = b"".join(b).decode("utf-8", "replace")
        if before != after and _changes_match(rx, before, after):
            found[vid] = parent
    return found


def _changes_match(rx: re.Pattern, before: str, after: str) -> bool:
    """Whether a minimal line diff of BEFORE -> AFTER adds or removes a line matching RX.

    The lines a diff keeps are the same on both sides, so when the matching lines of the
    two sides differ as multisets, a matching line was added or removed whatever the diff;
    when neither side has one, none was. Only when both sides hold the same matching lines
    (a line moved, say) does the answer depend on the diff itself."""
    def matching(text: str) -> Counter[str]:
        return Counter(line for line in _keep_lines(text) if rx.search(line.rstrip("\n")))

    if not _may_match(rx, before) and not _may_match(rx, after):
        return False
    old, new = matching(before), matching(after)
    if old != new:
        return True
    if not old:
        return False
    return any(rx.search(line.rstrip("\n")) for line in changed_lines(before, after))


def _occurrences(repo, string: str, ignore_case: bool) -> dict[str, int]:
    """Version id -> occurrences of STRING in it (git's -S count), for every prompt version.

    A string without a line feed never spans lines, so a version stored as a diff has its
    parent's count plus the count in the lines it adds minus the count in the lines it
    removes: the scan reads the diffs as stored and rebuilds no text. Snapshots are counted
    whole. A string with a line feed is counted in each rebuilt text."""
    if ignore_case:
        needle = string.lower()

        def count(data: bytes) -> int:
            return data.decode("utf-8", "replace").lower().count(needle)
    else:  # in UTF-8, counting bytes counts characters' occurrences: no decoding
        raw = string.encode("utf-8")

        def count(data: bytes) -> int:
            return data.count(raw)
    counts: dict[str, int] = {}
    if "\n" in string:
        for row, data in repo.versions.stream("prompt"):
            counts[row.id] = count(data)
        return counts
    for row, content, plus, minus in repo.versions.stream_deltas("prompt"):
        if content is not None:
            counts[row.id] = count(content)
            continue
        parent = row.parent_version_id
        base = counts.get(parent) if parent else 0
        if base is None:  # a parent stored after its child: count its text
            base = counts[parent] = count(repo.versions.get(parent))
        counts[row.id] = (base + sum(count(line) for line in plus)
                          - sum(count(line) for line in minus))
    return counts


def changed_lines(old: str, new: str) -> list[str]:
    """The removed and added lines of a minimal line diff (Myers), as git's diff finds them
    (difflib's diff is not minimal: it may show a kept line as moved)."""
    # a last line without its newline differs from the same line with one, as in git
    a, b = _keep_lines(old), _keep_lines(new)
    lo = 0
    while lo < len(a) and lo < len(b) and a[lo] == b[lo]:
        lo += 1
    ha, hb = len(a), len(b)
    while ha > lo and hb > lo and a[ha - 1] == b[hb - 1]:
        ha -= 1
        hb -= 1
    a, b = a[lo:ha], b[lo:hb]
    n, m = len(a), len(b)
    if not n or not m:
        return a + b
    ids: dict[str, int] = {}
    x_ = [ids.setdefault(t, len(ids)) for t in a]
    y_ = [ids.setdefault(t, len(ids)) for t in b]
    offset = n + m
    v = [0] * (2 * offset + 2)
    trace = []
    for d in range(offset + 1):
        if d > MAX_EDITS:  # a huge rewrite: difflib's (non-minimal) diff is good enough
            return _difflib_changed(old, new)
        lo = max(0, offset - d - 1)  # the diagonals step d can read: -d-1 .. d+1
        trace.append((lo, v[lo:offset + d + 2]))
        for k in range(-d, d + 1, 2):
            if k == -d or (k != d and v[offset + k - 1] < v[offset + k + 1]):
                x = v[offset + k + 1]
            else:
                x = v[offset + k - 1] + 1
            y = x - k
            while x < n and y < m and x_[x] == y_[y]:
                x += 1
                y += 1
            v[offset + k] = x
            if x >= n and y >= m:
                return _backtrack(trace, a, b, x_, y_, d, k, offset)
    return a + b


MAX_EDITS = 1000


def _keep_lines(text: str) -> list[str]:
    parts = text.split("\n")
    out = [p + "\n" for p in parts[:-1]]
    if parts[-1]:
        out.append(parts[-1])
    return out


def _difflib_changed(old: str, new: str) -> list[str]:
    from .delta import hunks

    return [line[1:].decode("utf-8", "replace")
            for h in hunks(old.encode("utf-8"), new.encode("utf-8"), context=0)
            for line in h.lines if line[:1] in (b"+", b"-")]


def _backtrack(trace, a, b, x_, y_, d, k, offset) -> list[str]:
    out: list[str] = []
    x, y = len(a), len(b)
    for step in range(d, 0, -1):
        lo, v = trace[step]
        base = offset - lo
        k = x - y
        if k == -step or (k != step and v[base + k - 1] < v[base + k + 1]):
            prev_k = k + 1
        else:
            prev_k = k - 1
        prev_x = v[base + prev_k]
        prev_y = prev_x - prev_k
        while x > prev_x and y > prev_y:
            x -= 1
            y -= 1
        if x == prev_x:
            out.append(b[prev_y])  # an insertion
        else:
            out.append(a[prev_x])  # a deletion
        x, y = prev_x, prev_y
    return out


def _sides(path, old_path, status, old, new, specs):
    """The (old, new) pairs git diffs for one change under the pathspec SPECS: a rename whose
    other side is outside the pathspec is an add (or a delete), as git sees it."""
    empty = 0 if isinstance(old, int) else ""
    new_in = path_matches(path, specs)
    if status != "R" or not old_path:
        return [(old, new)] if new_in else []
    old_in = path_matches(old_path, specs)
    if new_in and old_in:
        return [(old, new)]
    if new_in:
        return [(empty, new)]
    if old_in:
        return [(old, empty)]
    return []


def pickaxe_log(repo, commits_wanted: set[str], rev: str | None, exclude: str | None,
                limit: int | None):
    """CommitInfo of the wanted commits reachable from REV (not from EXCLUDE), in log order."""
    from .repo import CommitInfo

    if rev is None and repo.head() is None:
        return []
    start = repo.resolve(rev or "HEAD")
    reach = repo.store.ancestor_ids([start])
    if exclude is not None:
        reach -= repo.store.ancestor_ids([repo.resolve(exclude)])
    rows = [repo.commit_row(c) for c in commits_wanted & reach]
    rows.sort(key=lambda r: (-r.generation, _neg(r.committed_at), r.id))
    infos = [CommitInfo.from_row(r) for r in rows]
    return infos[:limit] if limit is not None else infos


class _neg(str):
    """Sort key: a string ordered backwards."""

    def __lt__(self, other):
        return str.__gt__(self, other)
