"""Unified diffs on bytes: make them, apply them, print them.

Lines are split on ``\\n`` only and keep their ending, so CR, CRLF and a missing final
newline survive byte for byte. A line without its newline is followed, in a diff, by the
standard ``\\ No newline at end of file`` marker, which ``patch`` and ``git apply`` know.

Stored deltas are the hunks of a unified diff (``@@`` header onward) without context lines
(``diff -U0``, STORED_CONTEXT); printed diffs have 3 lines of context and add
``--- a/PATH`` / ``+++ b/PATH`` headers.

Layer: a leaf (the standard library only).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

NO_NEWLINE = b"\\ No newline at end of file"
_HUNK = re.compile(rb"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


class DeltaError(ValueError):
    """A diff does not apply: it is malformed or meant for another text."""


def split_lines(data: bytes) -> list[bytes]:
    """Split on b"\\n", keeping it; the last line may lack it."""
    if not data:
        return []
    lines = data.split(b"\n")
    last = lines.pop()
    out = [line + b"\n" for line in lines]
    if last:
        out.append(last)
    return out


@dataclass(frozen=True)
class Hunk:
    old_start: int  # 0-based index of the first old line covered
    old_count: int
    new_start: int
    new_count: int
    lines: list[bytes]  # each with its b" ", b"-" or b"+" prefix, newline kept


def _opcodes(a: list[bytes], b: list[bytes]):
    """difflib opcodes, with the common prefix and suffix trimmed first (fast path)."""
    n, m = len(a), len(b)
    lo = 0
    while lo < n and lo < m and a[lo] == b[lo]:
        lo += 1
    hi = 0
    while hi < n - lo and hi < m - lo and a[n - 1 - hi] == b[m - 1 - hi]:
        hi += 1
    ops = []
    if lo:
        ops.append(("equal", 0, lo, 0, lo))
    mid_a, mid_b = a[lo:n - hi], b[lo:m - hi]
    if mid_a or mid_b:
        if not mid_a:
            ops.append(("insert", lo, lo, lo, lo + len(mid_b)))
        elif not mid_b:
            ops.append(("delete", lo, lo + len(mid_a), lo, lo))
        else:
            import difflib

            sm = difflib.SequenceMatcher(None, mid_a, mid_b, autojunk=len(mid_a) > 2000)
            for tag, i1, i2, j1, j2 in sm.get_opcodes():
                ops.append((tag, i1 + lo, i2 + lo, j1 + lo, j2 + lo))
    if hi:
        ops.append(("equal", n - hi, n, m - hi, m))
    return ops


def _group(ops, context: int):
    """Group opcodes into hunks with CONTEXT lines around each change (difflib's rule)."""
    if not ops or all(op[0] == "equal" for op in ops):
        return []
    ops = list(ops)
    if ops[0][0] == "equal":
        tag, i1, i2, j1, j2 = ops[0]
        ops[0] = (tag, max(i1, i2 - context), i2, max(j1, j2 - context), j2)
    if ops[-1][0] == "equal":
        tag, i1, i2, j1, j2 = ops[-1]
        ops[-1] = (tag, i1, min(i2, i1 + context), j1, min(j2, j1 + context))
    groups, group = [], []
    span = context * 2
    for tag, i1, i2, j1, j2 in ops:
        if tag == "equal" and i2 - i1 > span:
            group.append((tag, i1, min(i2, i1 + context), j1, min(j2, j1 + context)))
            groups.append(group)
            group = []
            i1, j1 = max(i1, i2 - context), max(j1, j2 - context)
        group.append((tag, i1, i2, j1, j2))
    if group and not (len(group) == 1 and group[0][0] == "equal"):
        groups.append(group)
    return groups


def hunks(old: bytes, new: bytes, context: int = 3) -> list[Hunk]:
    a, b = split_lines(old), split_lines(new)
    out = []
    for group in _group(_opcodes(a, b), context):
        lines: list[bytes] = []
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                lines.extend(b" " + x for x in a[i1:i2])
                continue
            if tag in ("replace", "delete"):
                lines.extend(b"-" + x for x in a[i1:i2])
            if tag in ("replace", "insert"):
                lines.extend(b"+" + x for x in b[j1:j2])
        first, last = group[0], group[-1]
        out.append(Hunk(first[1], last[2] - first[1], first[3], last[4] - first[3], lines))
    return out


def _range(start: int, count: int) -> bytes:
    if count == 1:
        return b"%d" % (start + 1)
    if count == 0:
        return b"%d,0" % start
    return b"%d,%d" % (start + 1, count)


def format_hunks(hs: list[Hunk]) -> bytes:
    parts: list[bytes] = []
    for h in hs:
        parts.append(b"@@ -" + _range(h.old_start, h.old_count) + b" +"
                     + _range(h.new_start, h.new_count) + b" @@\n")
        for line in h.lines:
            if line.endswith(b"\n"):
                parts.append(line)
            else:
                parts.append(line + b"\n" + NO_NEWLINE + b"\n")
    return b"".join(parts)


STORED_CONTEXT = 0  # stored deltas are `diff -U0`: context costs bytes and time, the
# SHA-256 of the rebuilt text already proves the result


def make_delta(old: bytes, new: bytes) -> tuple[bytes, int, int]:
    """The stored delta from OLD to NEW, with its insertion and deletion counts."""
    hs = hunks(old, new, STORED_CONTEXT)
    ins = sum(1 for h in hs for line in h.lines if line[:1] == b"+")
    dels = sum(1 for h in hs for line in h.lines if line[:1] == b"-")
    return format_hunks(hs), ins, dels


def _int(digits: bytes, i: int) -> int:
    if len(digits) > 12:
        raise DeltaError(f"line number out of range at diff line {i + 1}")
    return int(digits)


def parse_hunks(diff: bytes) -> list[Hunk]:
    """Parse the hunks of a unified diff (headers before the first ``@@`` are skipped)."""
    raw = diff.split(b"\n")
    if raw and raw[-1] == b"":
        raw.pop()
    out: list[Hunk] = []
    i, n = 0, len(raw)
    while i < n and not raw[i].startswith(b"@@"):
        i += 1
    while i < n:
        m = _HUNK.match(raw[i])
        if not m:
            raise DeltaError(f"bad hunk header at diff line {i + 1}")
        nums = [1 if g is None else _int(g, i) for g in m.groups()]
        old_start, old_count, new_start, new_count = nums
        old_start = old_start - 1 if old_count else old_start
        new_start = new_start - 1 if new_count else new_start
        i += 1
        lines: list[bytes] = []
        seen_old = seen_new = 0
        marked = False
        while i < n and (seen_old < old_count or seen_new < new_count
                         or raw[i].startswith(b"\\")):
            line = raw[i]
            tag = line[:1]
            if tag == b"\\":
                if not lines or not lines[-1].endswith(b"\n") or marked:
                    raise DeltaError(f"stray no-newline marker at diff line {i + 1}")
                lines[-1] = lines[-1][:-1]
                marked = True
                i += 1
                continue
            elif tag in (b" ", b"-", b"+"):
                marked = False
                lines.append(line + b"\n")
                if tag != b"+":
                    seen_old += 1
                if tag != b"-":
                    seen_new += 1
            elif line == b"":
                # some tools drop the space of an empty context line
                lines.append(b" \n")
                seen_old += 1
                seen_new += 1
            else:
                raise DeltaError(f"unexpected line in hunk at diff line {i + 1}")
            i += 1
        if seen_old != old_count or seen_new != new_count:
            raise DeltaError("hunk line counts do not match its header")
        out.append(Hunk(old_start, old_count, new_start, new_count, lines))
    return out


def added_lines(diff: bytes) -> list[bytes]:
    """The lines a stored diff adds (without their ``+``), in order."""
    return [line[1:] for h in parse_hunks(diff) for line in h.lines if line[:1] == b"+"]


def changed_span(diff: bytes) -> tuple[int, int, int]:
    """(start, old end, new end): the lines a stored diff changes lie in old[start:old end]
    and new[start:new end]; before and after, both texts have the same lines."""
    hs = parse_hunks(diff)
    if not hs:
        return (0, 0, 0)
    first, last = hs[0], hs[-1]
    return (first.old_start, last.old_start + last.old_count, last.new_start + last.new_count)


def added_between(a: list[bytes], b: list[bytes]) -> list[bytes]:
    """The lines of B that a diff from A to B adds, in order."""
    out: list[bytes] = []
    for tag, _i1, _i2, j1, j2 in _opcodes(a, b):
        if tag in ("replace", "insert"):
            out.extend(b[j1:j2])
    return out


def apply_delta(old: bytes, diff: bytes) -> bytes:
    """Apply the hunks of DIFF to OLD. Context and removed lines are checked."""
    return b"".join(apply_lines(split_lines(old), diff))


def apply_chain(base: bytes, diffs: list[bytes]) -> bytes:
    """Apply several diffs in turn, splitting and joining the text only once."""
    lines = split_lines(base)
    for diff in diffs:
        lines = apply_lines(lines, diff)
    return b"".join(lines)


def apply_lines(a: list[bytes], diff: bytes) -> list[bytes]:
    """Apply the hunks of DIFF to the lines A; returns the new lines."""
    out: list[bytes] = []
    pos = 0
    for h in parse_hunks(diff):
        if h.old_start < pos or h.old_start + h.old_count > len(a):
            raise DeltaError("hunk outside the text it applies to")
        out.extend(a[pos:h.old_start])
        k = h.old_start
        for line in h.lines:
            tag, body = line[:1], line[1:]
            if tag == b"+":
                out.append(body)
            else:
                if a[k] != body:
                    raise DeltaError(f"diff does not match the text at line {k + 1}")
                if tag == b" ":
                    out.append(body)
                k += 1
        pos = k
    out.extend(a[pos:])
    return out


def unified_diff(old: bytes | None, new: bytes | None, old_path: str, new_path: str,
                 context: int = 3) -> bytes:
    """A git-style unified diff of one file (empty when the contents are equal).

    ``None`` on one side means the file does not exist there (added or deleted file).
    """
    if old == new and old_path == new_path:
        return b""
    a_name = b"/dev/null" if old is None else b"a/" + old_path.encode()
    b_name = b"/dev/null" if new is None else b"b/" + new_path.encode()
    header = [b"diff --git a/" + old_path.encode() + b" b/" + new_path.encode() + b"\n"]
    if old is None:
        header.append(b"new file mode 100644\n")
    elif new is None:
        header.append(b"deleted file mode 100644\n")
    elif old_path != new_path:
        header.append(b"rename from " + old_path.encode() + b"\n")
        header.append(b"rename to " + new_path.encode() + b"\n")
    body = format_hunks(hunks(old or b"", new or b"", context))
    if body:
        header.append(b"--- " + a_name + b"\n")
        header.append(b"+++ " + b_name + b"\n")
        header.append(body)
    return b"".join(header)


def diffstat(old: bytes | None, new: bytes | None) -> tuple[int, int]:
    hs = hunks(old or b"", new or b"")
    ins = sum(1 for h in hs for line in h.lines if line[:1] == b"+")
    dels = sum(1 for h in hs for line in h.lines if line[:1] == b"-")
    return ins, dels
