"""The finer, token-level merge of the regions a line-level merge leaves in conflict.

``fine_merge(base, ours, theirs, meter, ...)`` merges one conflict region of
:func:`promptvc.textmerge.merge_texts` (step 3 of its algorithm), or returns None
when the region really conflicts.  It also holds the diff machinery both levels use:
``WorkMeter`` (a work budget in place of a clock), ``new_dmp`` (diff-match-patch
without timeout heuristics), ``Interner`` (items as single characters) and
``edit_distance_lower_bound``.

The finer merge
---------------
Only regions whose three versions are all UTF-8 are tried.  The region is split
into tokens (words, whitespace runs, line breaks, single CJK characters, other
single characters) and each side's edits are computed with diff-match-patch
(``Diff_Timeout = 0``, i.e. an exact Myers diff, under a work budget whose
exhaustion makes the region a conflict) as lists of ``(start, end, replacement)``
over the base tokens.  Edits after ``diff_cleanupSemantic`` are what gets applied;
they must neither overlap nor touch across sides (identical edits are applied
once).  Because equally short edit scripts may align repeated text differently,
the minimal edits are also widened to every position they could slide to
(``_envelope``) and checked against each other, and the whole check is done for
the forward diff and for a diff of the reversed texts (opposite tie-breaking); all
must agree on one clean result.  Anything doubtful is a conflict, never a guess.

No clock is read: the diffs run under the caller's ``WorkMeter``, the slide
ranges under ``_SLIDE_BUDGET``, and the caller passes the size limits
(``max_diff_cost``, ``max_region_bytes``), so a merge is a pure function of its
inputs.  textmerge owns the tunable limits and hands them in at call time.

Tokens, alignments, slide envelopes and the clash test are only correct together;
none of them is useful, or safe, on its own, hence their underscore names.

Layer: a leaf: the standard library, and ``diff_match_patch`` imported lazily inside
``new_dmp`` (so importing this module stays cheap).  No other pvc module.
"""

from __future__ import annotations

import re

__all__ = ["WorkMeter", "new_dmp", "Interner", "tokenize", "edit_distance_lower_bound",
           "fine_merge"]

# Upper bound on the work spent computing slide ranges of a region's edits.
_SLIDE_BUDGET = 2_000_000


# --------------------------------------------------------------------------
# diff machinery (used by the line level in textmerge too)


class WorkMeter:
    """A work budget that stands in for diff-match-patch's ``deadline``.

    ``diff_main(..., deadline)`` hands the deadline down to its bisection,
    which asks ``time.time() > deadline`` once per step and gives up (returning
    a coarse diff) when the answer is yes.  Python evaluates that comparison as
    ``deadline.__lt__(now)``: this object ignores ``now`` and answers from the
    work done instead, so the diff is bounded by a count, never by a clock.
    Each step costs ``step`` units, the length of the two texts being bisected
    (set by _DMP.diff_bisect): a step's own loop is shorter than that, and the
    snakes it follows add up to at most that per diagonal, so the units charged
    bound the real work from above.  Once ``exhausted``, it stays so."""

    __slots__ = ("left", "step", "exhausted")

    def __init__(self, budget: int) -> None:
        self.left = budget
        self.step = 0
        self.exhausted = False

    def spend(self, n: int) -> bool:
        self.left -= n
        if self.left < 0:
            self.exhausted = True
        return self.exhausted

    def __lt__(self, _now: object) -> bool:  # `now > deadline` in diff_bisect
        return self.spend(self.step)


_DMP_CLASS = None


def new_dmp():
    """A diff_match_patch instance without timeout heuristics whose diffs
    take a WorkMeter as their deadline."""
    global _DMP_CLASS
    if _DMP_CLASS is None:
        from diff_match_patch import diff_match_patch

        class _DMP(diff_match_patch):
            def diff_bisect(self, text1, text2, deadline):
                if not isinstance(deadline, WorkMeter):  # pragma: no cover - defensive
                    raise TypeError("merge diffs run under a WorkMeter, not a clock")
                deadline.step = len(text1) + len(text2)
                deadline.spend(deadline.step)  # the bisection's two arrays
                return super().diff_bisect(text1, text2, deadline)

        _DMP_CLASS = _DMP
    dmp = _DMP_CLASS()
    # 0 = no timeout: also disables the half-match speedup, which can return
    # non-minimal diffs.  The work is bounded by the WorkMeter instead.
    dmp.Diff_Timeout = 0
    return dmp


# Token ids are encoded as characters starting at the private use area (above
# the surrogate block, so every id is a valid code point).
_CHAR_BASE = 0xE000
_MAX_TOKENS = 0x10FFFF - _CHAR_BASE


class Interner:
    """Maps hashable items (lines or tokens) to single characters."""

    __slots__ = ("ids", "items")

    def __init__(self) -> None:
        self.ids: dict = {}
        self.items: list = []

    def encode(self, seq) -> str | None:
        ids = self.ids
        items = self.items
        for item in dict.fromkeys(seq):  # distinct items, in order
            if item not in ids:
                n = len(items)
                if n >= _MAX_TOKENS:
                    return None
                ids[item] = chr(_CHAR_BASE + n)
                items.append(item)
        return "".join(map(ids.__getitem__, seq))

    def decode(self, chars: str) -> list:
        items = self.items
        return [items[ord(c) - _CHAR_BASE] for c in chars]


def edit_distance_lower_bound(a: str, b: str) -> int:
    """Insertions + deletions needed at least: items not shared as a multiset."""
    from collections import Counter

    ca = Counter(a)
    cb = Counter(b)
    return sum(abs(n - cb[k]) for k, n in ca.items()) + sum(n for k, n in cb.items() if k not in ca)


# --------------------------------------------------------------------------
# token level

_CJK = (
    "\u1100-\u11ff\u2e80-\u2fdf\u3040-\u30ff\u3100-\u31ff\u3400-\u4dbf"
    "\u4e00-\u9fff\ua960-\ua97f\uac00-\ud7ff\uf900-\ufaff\uff66-\uff9f"
    "\U00020000-\U0003134f"
)
_MARKS = "\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
_TOKEN_RE = re.compile(
    r"\r\n|\n|\r"  # line breaks
    r"|[^\S\r\n]+"  # other whitespace runs
    rf"|(?:(?![{_CJK}])[\w{_MARKS}])+"  # words (letters, digits, _)
    rf"|[{_CJK}][{_MARKS}]*"  # one CJK character at a time
    r"|.[" + _MARKS + r"]*",  # anything else: one character (+ combining marks)
    re.S,
)


def tokenize(text: str) -> list[str]:
    return _TOKEN_RE.findall(text)


class _Budget:
    __slots__ = ("left",)

    def __init__(self, n: int) -> None:
        self.left = n

    def spend(self, n: int) -> None:
        self.left -= n
        if self.left < 0:
            raise _TooExpensive


class _TooExpensive(Exception):
    pass


def _ins_slide_left(B: str, r: str, j: int, p: int, budget: _Budget) -> int:
    """Leftmost point an insertion of r[:j] at p can slide to (the inserted
    text rotates while it passes identical base text)."""
    k = 0
    while p - 1 - k >= 0 and B[p - 1 - k] == r[(j - 1 - k) % j]:
        k += 1
    budget.spend(k + 1)
    return p - k


def _ins_slide_right(B: str, r: str, i: int, p: int, budget: _Budget) -> int:
    """Rightmost point an insertion of r[i:] at p can slide to."""
    m = len(r) - i
    n = len(B)
    k = 0
    while p + k < n and B[p + k] == r[i + k % m]:
        k += 1
    budget.spend(k + 1)
    return p + k


def _del_slide_left(B: str, s: int, e: int, budget: _Budget) -> int:
    k = 0
    while s - 1 - k >= 0 and B[s - 1 - k] == B[e - 1 - k]:
        k += 1
    budget.spend(k + 1)
    return s - k


def _del_slide_right(B: str, s: int, e: int, budget: _Budget) -> int:
    n = len(B)
    k = 0
    while e + k < n and B[s + k] == B[e + k]:
        k += 1
    budget.spend(k + 1)
    return e + k


def _envelope(B: str, s: int, e: int, r: str, budget: _Budget) -> tuple[int, int, int, int]:
    """Where else could the edit (s, e, r) sit under an alternative, equally
    valid alignment?  Pieces of the inserted text can slide over identical
    neighbouring base text, and so can pieces of the deleted text.

    Returns (lo, hi, ins_lo, ins_hi): [lo, hi] is the base range the edit
    could touch, [ins_lo, ins_hi] the range of points where its inserted text
    could land (meaningful only when r is non-empty).  Conservative: it may
    be larger than the true range, never smaller."""
    ins_lo = del_lo = s
    ins_hi = del_hi = e
    if s > 0:
        left = B[s - 1]
        for j in range(1, len(r) + 1):
            if r[j - 1] == left:
                ins_lo = min(ins_lo, _ins_slide_left(B, r, j, s, budget))
        for j in range(1, e - s + 1):
            if B[s + j - 1] == left:
                del_lo = min(del_lo, _del_slide_left(B, s, s + j, budget))
        budget.spend(len(r) + e - s)
    if e < len(B):
        right = B[e]
        L = len(r)
        for j in range(1, L + 1):
            if r[L - j] == right:
                ins_hi = max(ins_hi, _ins_slide_right(B, r, L - j, e, budget))
        for j in range(1, e - s + 1):
            if B[e - j] == right:
                del_hi = max(del_hi, _del_slide_right(B, e - j, e, budget))
        budget.spend(len(r) + e - s)
    return min(ins_lo, del_lo), max(ins_hi, del_hi), ins_lo, ins_hi


def _edits_from_diffs(diffs) -> list[list]:
    """dmp diffs -> [[start, end, replacement], ...] in base coordinates."""
    edits: list[list] = []
    pos = 0
    cur = None
    for op, text in diffs:
        if not text:
            continue
        if op == 0:
            if cur is not None:
                edits.append(cur)
                cur = None
            pos += len(text)
        elif op < 0:
            if cur is None:
                cur = [pos, pos, ""]
            pos += len(text)
            cur[1] = pos
        else:
            if cur is None:
                cur = [pos, pos, ""]
            cur[2] += text
    if cur is not None:
        edits.append(cur)
    return edits


def _normalize(B: str, edits: list[list], budget: _Budget) -> list[tuple[int, int, str]]:
    """Trim replacements and slide pure insertions/deletions to their leftmost
    position (so that equal changes on both sides get equal coordinates)."""
    out: list[list] = []
    for s, e, r in edits:
        # trim common prefix / suffix of deleted and inserted text
        d = B[s:e]
        k = 0
        m = min(len(d), len(r))
        while k < m and d[k] == r[k]:
            k += 1
        s += k
        r = r[k:]
        d = d[k:]
        k = 0
        m = min(len(d), len(r))
        while k < m and d[-1 - k] == r[-1 - k]:
            k += 1
        if k:
            e -= k
            r = r[:-k]
        if s == e and not r:
            continue
        bound = out[-1][1] if out else 0
        if s == e:  # pure insertion
            steps = 0
            while s > bound and B[s - 1] == r[-1]:
                r = r[-1] + r[:-1]
                s -= 1
                steps += 1
            e = s
            budget.spend(steps + 1)
        elif not r:  # pure deletion
            steps = 0
            while s > bound and B[s - 1] == B[e - 1]:
                s -= 1
                e -= 1
                steps += 1
            budget.spend(steps + 1)
        if out and s <= out[-1][1]:
            prev = out[-1]
            prev[2] = prev[2] + B[prev[1]:s] + r
            prev[1] = max(prev[1], e)
        else:
            out.append([s, e, r])
    return [(s, e, r) for s, e, r in out]


def _apply(B: str, edits) -> str:
    parts = []
    pos = 0
    for s, e, r in edits:
        parts.append(B[pos:s])
        parts.append(r)
        pos = e
    parts.append(B[pos:])
    return "".join(parts)


def _to_edits(B: str, diffs, reverse: bool, budget: _Budget):
    edits = _edits_from_diffs(diffs)
    if reverse:
        n = len(B)
        edits = [[n - e, n - s, r[::-1]] for s, e, r in reversed(edits)]
    return _normalize(B, edits, budget)


def _alignment(B: str, X: str, budget: _Budget, reverse: bool, meter: WorkMeter):
    """One way of explaining X as edits of B.

    Returns (edits, pieces) or None if the diff could be approximate:
    ``edits`` come from the dmp diff after diff_cleanupSemantic (coarse,
    meaningful chunks: they are what gets applied and checked for overlap);
    ``pieces`` are the edits of the minimal diff before the cleanup, each with
    its slide envelope (see _envelope), used to detect ambiguous alignments.
    With ``reverse`` the texts are diffed back to front, which breaks ties
    between equally good alignments the other way round.
    """
    dmp = new_dmp()
    if reverse:
        diffs = dmp.diff_main(B[::-1], X[::-1], False, meter)
    else:
        diffs = dmp.diff_main(B, X, False, meter)
    if meter.exhausted:
        return None
    pieces = _to_edits(B, diffs, reverse, budget)
    dmp.diff_cleanupSemantic(diffs)
    edits = _to_edits(B, diffs, reverse, budget)
    # defensive: never trust an edit list blindly
    if _apply(B, edits) != X or _apply(B, pieces) != X:
        return None
    pieces = sorted(((s, e, r) + _envelope(B, s, e, r, budget) for s, e, r in pieces), key=lambda x: x[3])
    return edits, pieces


def _combine(B: str, a, b):
    """Apply the edits of alignments a and b of the two sides to B, or None
    if they clash."""
    ea, pa = a
    eb, pb = b
    # 1. the (coarse) edits must neither overlap nor touch, unless identical
    merged = sorted(set(ea) | set(eb))
    for x, y in zip(merged, merged[1:]):
        if y[0] <= x[1]:
            return None
    # 2. no alternative alignment of the minimal edits may bring them together
    for x in pa:
        for y in pb:
            if y[3] > x[4]:
                break
            if y[4] < x[3] or x[:3] == y[:3]:
                continue
            if _clash(x, y):
                return None
    return _apply(B, merged)


def _clash(a, b) -> bool:
    """Do edits a and b of different sides conflict?  Each is
    (start, end, replacement, lo, hi, ins_lo, ins_hi), see _envelope; the
    caller already knows that the closed ranges [lo, hi] intersect."""
    a_s, a_e, a_r, a_lo, a_hi, a_il, a_ih = a
    b_s, b_e, b_r, b_lo, b_hi, b_il, b_ih = b
    # the edits themselves overlap or touch
    if a_s <= b_e and b_s <= a_e:
        return True
    # some alignment lets them share base text
    if max(a_lo, b_lo) < min(a_hi, b_hi):
        return True
    if a_r and b_r and max(a_il, b_il) <= min(a_ih, b_ih):
        # both insert text and could insert at the same point: unknown order
        return True
    # one side's text could be inserted inside base text the other one touches
    if a_r and max(a_il, b_lo + 1) <= min(a_ih, b_hi - 1):
        return True
    if b_r and max(b_il, a_lo + 1) <= min(b_ih, a_hi - 1):
        return True
    return False


def fine_merge(
    base: bytes,
    ours: bytes,
    theirs: bytes,
    meter: WorkMeter,
    *,
    max_diff_cost: int,
    max_region_bytes: int,
) -> bytes | None:
    """Token-level merge of one conflict region; None if it really conflicts
    (or the merge cannot be decided with certainty within ``meter``'s budget).

    Regions larger than ``max_region_bytes`` (base + ours + theirs) are not
    tried, nor are those whose token diff would cost more than ``max_diff_cost``
    (the squared lower bound of its edit distance)."""
    if meter.exhausted or len(base) + len(ours) + len(theirs) > max_region_bytes:
        return None
    try:
        texts = [t.decode("utf-8") for t in (base, ours, theirs)]
    except UnicodeDecodeError:
        return None
    interner = Interner()
    B, O, T = (interner.encode(tokenize(t)) for t in texts)
    if B is None or O is None or T is None:
        return None
    for X in (O, T):
        if edit_distance_lower_bound(B, X) ** 2 > max_diff_cost:
            return None
    budget = _Budget(_SLIDE_BUDGET)
    try:
        # Equally short edit scripts can align repeated text differently and
        # so place the other side's changes differently.  The merge is only
        # accepted when the alignments biased to the left (forward diff) and
        # to the right (diff of the reversed texts) all give the same clean
        # result.
        sides = []
        for X in (O, T):
            fwd = _alignment(B, X, budget, False, meter)
            if fwd is None:
                return None
            rev = _alignment(B, X, budget, True, meter)
            if rev is None:
                return None
            sides.append([fwd] if rev == fwd else [fwd, rev])
        result = None
        for a in sides[0]:
            for b in sides[1]:
                merged = _combine(B, a, b)
                if merged is None or (result is not None and merged != result):
                    return None
                result = merged
    except _TooExpensive:
        return None
    if result is None:  # pragma: no cover - each side has at least one alignment
        return None
    return "".join(interner.decode(result)).encode("utf-8")
