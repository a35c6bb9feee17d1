"""Pure text-level three-way merge for pvc.

``merge_texts(base, ours, theirs)`` works on bytes and is byte-exact (CRLF,
mixed line endings, missing trailing newline, UTF-8 or arbitrary bytes).

Algorithm
---------
1. Trivial cases: ``ours == theirs`` -> ours, ``base == ours`` -> theirs,
   ``base == theirs`` -> ours.
2. Line-level three-way merge with ``merge3`` (Breezy's Merge3) over lines
   split on ``b"\n"``.  The line alignment comes from diff-match-patch's Myers
   diff (lines mapped to single characters), which is closer to
   ``git merge-file`` than difflib.
3. Every region merge3 reports as a conflict (both sides changed the same or
   adjacent lines) gets a finer, token-level merge if all three versions of
   the region are UTF-8 (:func:`promptvc.finemerge.fine_merge`; its docstring
   has the details): the edits of both sides must be apart under every
   alignment the diffs could have chosen, otherwise the region stays a
   conflict.  Anything doubtful is a conflict, never a guess.
4. Conflicts are written git-style (``<<<<<<<``, with ``diff3=True`` also a
   ``|||||||`` base section, ``=======``, ``>>>>>>>``); lines both sides agree
   on at the edges of a conflict stay outside it (like git), marker lines use
   CRLF when the conflicting text does.

The merge is a pure function of its inputs: no clock is read.  Every bound on
the work is a count (``MAX_DIFF_COST``, ``LINE_DIFF_BUDGET``,
``FINE_MERGE_BUDGET``, ``MAX_FINE_REGION_BYTES`` here, finemerge's
``_SLIDE_BUDGET``), so the same three texts merge the same way on a fast
machine and on a loaded one.  The limits are read from this module's globals
when ``merge_texts`` runs and handed to finemerge.

Heavy imports (``merge3``, ``diff_match_patch``) happen lazily inside the
functions so that importing this module is cheap.

Layer: near the bottom: the standard library, ``merge3`` (lazily),
promptvc.delta (``split_lines``) and promptvc.finemerge (the token-level merge
and the diff machinery: ``WorkMeter``, ``new_dmp``, ``Interner``).
"""

from __future__ import annotations

from dataclasses import dataclass

from .delta import split_lines  # on b"\n" only: a CR stays part of its line
from .finemerge import Interner, WorkMeter, edit_distance_lower_bound, fine_merge, new_dmp

__all__ = ["MergeResult", "merge_texts", "has_conflict_markers", "split_lines"]

# Diffs whose estimated cost (squared lower bound of the edit distance)
# exceeds this are not attempted with Myers: such a text was rewritten
# wholesale.  Line level: difflib's faster heuristic matching is used instead.
# Token level: the region is a conflict.
MAX_DIFF_COST = 1_000_000
# Work budgets of the Myers diffs, in steps of diff-match-patch's bisection,
# each step weighted by the length of the two texts it works on (an upper
# bound of that step's work; see finemerge.WorkMeter).  The estimate above can
# be far too low (reordered text has a lower bound of 0), so these are what
# really bounds a merge.  Line level, per diff: a diff that runs out is only coarser,
# which merge3 turns into larger (still correct) regions.  Token level, for all
# regions of one merge_texts() call together, in file order: a region whose
# diffs run out is a conflict (its diff could be approximate), and so is every
# later region.  The worst inputs (reordered text) do about 7 million units
# a second on a 2026 laptop: about 2 s and 1 s, the clock limits this replaced.
LINE_DIFF_BUDGET = 14_000_000
FINE_MERGE_BUDGET = 7_000_000
# Conflicting regions larger than this (base + ours + theirs) are not merged
# at token level (tokenizing alone would take about a second).
MAX_FINE_REGION_BYTES = 3_000_000

_MARK_START = b"<<<<<<<"
_MARK_BASE = b"|||||||"
_MARK_MID = b"======="
_MARK_END = b">>>>>>>"


@dataclass
class MergeResult:
    """Outcome of a three-way merge."""

    content: bytes
    conflicts: int = 0

    @property
    def clean(self) -> bool:
        return self.conflicts == 0


# --------------------------------------------------------------------------
# line level


class _MyersLineMatcher:
    """difflib.SequenceMatcher look-alike (only get_matching_blocks) backed by
    diff-match-patch's Myers diff over lines."""

    def __init__(self, isjunk=None, a=(), b=(), autojunk=True) -> None:
        self._blocks = _line_matching_blocks(a, b)

    def get_matching_blocks(self):
        return self._blocks


def _line_matching_blocks(a, b) -> list:
    interner = Interner()
    ta = interner.encode(a)
    tb = interner.encode(b)
    if ta is None or tb is None or edit_distance_lower_bound(ta, tb) ** 2 > MAX_DIFF_COST:
        # absurdly many distinct lines, or a Myers diff would be slow (most
        # lines changed): difflib's heuristic matching is fast, and any valid
        # matching gives a correct (if coarser) merge
        import difflib

        return difflib.SequenceMatcher(None, a, b, autojunk=False).get_matching_blocks()
    # a diff that runs out of budget is only coarser (the same on every
    # machine), which merge3 turns into larger, still correct, regions
    diffs = new_dmp().diff_main(ta, tb, False, WorkMeter(LINE_DIFF_BUDGET))
    blocks = []
    i = j = 0
    for op, text in diffs:
        n = len(text)
        if op == 0:
            blocks.append((i, j, n))
            i += n
            j += n
        elif op < 0:
            i += n
        else:
            j += n
    blocks.append((len(a), len(b), 0))
    return blocks


def _line_regions(base_l, ours_l, theirs_l):
    """Line-level three-way merge (merge3's sync regions, Myers alignment).

    Yields ("take", lines) for text both sides agree on or only one side
    changed, and ("conflict", zs, ze, as, ae, bs, be) for base[zs:ze] changed
    differently into ours[as:ae] and theirs[bs:be]."""
    from merge3 import Merge3

    m3 = Merge3(base_l, ours_l, theirs_l, sequence_matcher=_MyersLineMatcher)
    iz = ia = ib = 0
    for zmatch, zend, amatch, aend, bmatch, bend in m3.find_sync_regions():
        if amatch > ia or bmatch > ib:
            a = ours_l[ia:amatch]
            b = theirs_l[ib:bmatch]
            z = base_l[iz:zmatch]
            if a == b or b == z:
                yield ("take", a)
            elif a == z:
                yield ("take", b)
            else:
                yield ("conflict", iz, zmatch, ia, amatch, ib, bmatch)
            ia = amatch
            ib = bmatch
        # base lines deleted on both sides are simply dropped
        iz = zmatch
        if zend > zmatch:
            yield ("take", base_l[zmatch:zend])
            iz = zend
            ia = aend
            ib = bend


# --------------------------------------------------------------------------
# conflict rendering


def _eol_for(*candidates: bytes | None) -> bytes:
    for line in candidates:
        if line:
            return b"\r\n" if line.endswith(b"\r\n") else b"\n"
    return b"\n"


def _marker(mark: bytes, label: str | None, eol: bytes) -> bytes:
    if label:
        return mark + b" " + label.encode("utf-8") + eol
    return mark + eol


def _emit_side(out: list[bytes], lines, eol: bytes) -> None:
    out.extend(lines)
    if lines and not lines[-1].endswith(b"\n"):
        out.append(eol)


# --------------------------------------------------------------------------
# public API


def merge_texts(
    base: bytes,
    ours: bytes,
    theirs: bytes,
    *,
    ours_label: str = "HEAD",
    theirs_label: str = "theirs",
    base_label: str = "base",
    diff3: bool = False,
) -> MergeResult:
    """Three-way merge of ``ours`` and ``theirs`` against their common ``base``.

    Returns a :class:`MergeResult`; when ``conflicts > 0`` the content holds
    git-style conflict markers.
    """
    base = bytes(base)
    ours = bytes(ours)
    theirs = bytes(theirs)
    if ours == theirs:
        return MergeResult(ours, 0)
    if base == ours:
        return MergeResult(theirs, 0)
    if base == theirs:
        return MergeResult(ours, 0)

    base_l = split_lines(base)
    ours_l = split_lines(ours)
    theirs_l = split_lines(theirs)

    out: list[bytes] = []
    conflicts = 0
    fine_meter = WorkMeter(FINE_MERGE_BUDGET)
    for region in _line_regions(base_l, ours_l, theirs_l):
        if region[0] == "take":
            out.extend(region[1])
        else:
            _, zs, ze, as_, ae, bs, be = region
            z_lines = base_l[zs:ze]
            a_lines = ours_l[as_:ae]
            b_lines = theirs_l[bs:be]
            merged = fine_merge(
                b"".join(z_lines),
                b"".join(a_lines),
                b"".join(b_lines),
                fine_meter,
                max_diff_cost=MAX_DIFF_COST,
                max_region_bytes=MAX_FINE_REGION_BYTES,
            )
            # (a merged region followed by more lines always ends with a
            # newline; checked anyway, a glued line would be a silent error)
            if merged is not None and (
                not merged or merged.endswith(b"\n") or ae == len(ours_l)
            ):
                out.append(merged)
                continue
            conflicts += 1
            eol = _eol_for(
                ours_l[as_ - 1] if as_ > 0 else None,
                a_lines[0] if a_lines else None,
                b_lines[0] if b_lines else None,
                z_lines[0] if z_lines else None,
            )
            head: list[bytes] = []
            tail: list[bytes] = []
            if not diff3:
                # like git's "zealous" merge: lines both sides agree on at the
                # edges of the conflict are not part of it
                p = 0
                while p < len(a_lines) and p < len(b_lines) and a_lines[p] == b_lines[p]:
                    p += 1
                q = 0
                while (
                    q < len(a_lines) - p
                    and q < len(b_lines) - p
                    and a_lines[-1 - q] == b_lines[-1 - q]
                ):
                    q += 1
                head = a_lines[:p]
                tail = a_lines[len(a_lines) - q :] if q else []
                a_lines = a_lines[p : len(a_lines) - q]
                b_lines = b_lines[p : len(b_lines) - q]
            out.extend(head)
            if head and not head[-1].endswith(b"\n"):  # pragma: no cover - defensive
                out.append(eol)
            out.append(_marker(_MARK_START, ours_label, eol))
            _emit_side(out, a_lines, eol)
            if diff3:
                out.append(_marker(_MARK_BASE, base_label, eol))
                _emit_side(out, z_lines, eol)
            out.append(_MARK_MID + eol)
            _emit_side(out, b_lines, eol)
            out.append(_marker(_MARK_END, theirs_label, eol))
            out.extend(tail)
    return MergeResult(b"".join(out), conflicts)


def has_conflict_markers(data: bytes) -> bool:
    """True if ``data`` contains leftover conflict markers.

    That is a line starting with ``<<<<<<< `` or ``>>>>>>> `` (or consisting
    of just those seven characters; a trailing CR is ignored).  A bare
    ``=======`` line does not count by itself: it is also a Markdown (setext)
    heading underline, and a real leftover conflict has the other markers too.
    """
    for line in data.split(b"\n"):
        if line.endswith(b"\r"):
            line = line[:-1]
        if line[:8] in (_MARK_START + b" ", _MARK_END + b" ") or line in (_MARK_START, _MARK_END):
            return True
    return False
