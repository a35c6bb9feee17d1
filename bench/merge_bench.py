"""Benchmark pvc's three-way text merge against `git merge-file`.

Builds prompt-like Markdown files (headings, bullet lists, long one-line
paragraphs of several sentences), makes two independent edits of each file
(word replacements, sentence inserts, sentence deletes) -- a share of the cases
puts both edits in the same paragraph line -- and merges them with
``promptvc.textmerge.merge_texts`` and with ``git merge-file -p``.

    .venv/bin/python bench/merge_bench.py [--cases N] [--seed S]

Reports how many cases each tool merged cleanly, wrong merges (a clean result
that differs from applying both edits to the base), cases git merged cleanly
but pvc did not, and pvc's merge time per file.  Exits non-zero if pvc made a
wrong merge or missed a merge git made.  Only writes inside a temporary
directory that it removes again.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.dont_write_bytecode = True  # write nothing outside the temporary directory
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from promptvc.textmerge import merge_texts  # noqa: E402

WORDS = (
    "the a an you your user assistant model answer question request task context "
    "document source tool call result output input format response reply step "
    "steps example examples rule rules policy safety data code function error "
    "message system prompt instruction instructions detail details summary list "
    "table json markdown language tone style voice length limit sentence words "
    "must should never always only first then next finally before after when if "
    "unless and or but not with without for to of in on at by from about into "
    "over under each every all any some more less most least clear clearly "
    "brief briefly short concise polite friendly formal careful carefully exact "
    "exactly helpful honest accurate relevant important simple plain specific "
    "use give keep make write read check ask explain cite quote include avoid "
    "follow refuse return provide mention describe list prefer stay respond "
    "be is are do does can may will it this that these those their them its"
).split()
HEADINGS = (
    "Role", "Goal", "Context", "Rules", "Style", "Output format", "Examples",
    "Constraints", "Safety", "Tools", "Tone", "Edge cases", "Citations", "Steps",
)


def sentence(rng: random.Random) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(5, 16))]
    text = " ".join(words)
    return text[0].upper() + text[1:] + rng.choice(".....?!")


@dataclass
class Line:
    prefix: str  # "# ", "## ", "- " or "" (paragraph)
    sentences: list[str]  # headings: one "sentence" without final punctuation

    def text(self) -> str:
        return self.prefix + " ".join(self.sentences)

    @property
    def editable(self) -> bool:
        return bool(self.sentences)


def document(rng: random.Random) -> list[Line]:
    lines = [Line("# ", [f"{rng.choice(HEADINGS)} prompt v{rng.randint(1, 9)}"]), Line("", [])]
    for _ in range(rng.randint(3, 6)):
        lines.append(Line("## ", [rng.choice(HEADINGS)]))
        lines.append(Line("", []))
        if rng.random() < 0.5:
            for _ in range(rng.randint(1, 3)):
                lines.append(Line("", [sentence(rng) for _ in range(rng.randint(3, 8))]))
                lines.append(Line("", []))
        else:
            for _ in range(rng.randint(3, 7)):
                lines.append(Line("- ", [sentence(rng) for _ in range(rng.randint(1, 2))]))
            lines.append(Line("", []))
    return lines


def render(lines: list[Line], eol: str) -> str:
    return "".join(line.text() + eol for line in lines)


@dataclass
class Edit:
    start: int  # offsets in the whole base text
    end: int
    text: str
    kind: str
    line: int


def make_edit(rng: random.Random, lines: list[Line], li: int, offset: int) -> Edit:
    """A random edit of line li, whose text starts at `offset` in the file."""
    line = lines[li]
    sents = line.sentences
    starts = []
    pos = len(line.prefix)
    for s in sents:
        starts.append(pos)
        pos += len(s) + 1
    is_heading = line.prefix.startswith("#")
    kinds = ["word"] if is_heading else ["word", "word", "insert", "delete"]
    if len(sents) < 2 and "delete" in kinds:
        kinds.remove("delete")
    kind = rng.choice(kinds)
    if kind == "word":
        k = rng.randrange(len(sents))
        words = sents[k].split(" ")
        j = rng.randrange(len(words))
        w_start = starts[k] + sum(len(w) + 1 for w in words[:j])
        word = words[j]
        core = word.rstrip(".?!") or word
        new = rng.choice([w for w in WORDS if w != core.lower()])
        if core[:1].isupper():
            new = new.capitalize()
        return Edit(offset + w_start, offset + w_start + len(core), new, kind, li)
    if kind == "insert":
        k = rng.randint(0, len(sents))
        if k < len(sents):
            at, text = starts[k], sentence(rng) + " "
        else:
            at, text = len(line.text()), " " + sentence(rng)
        return Edit(offset + at, offset + at, text, kind, li)
    k = rng.randrange(len(sents))
    if k < len(sents) - 1:
        s, e = starts[k], starts[k + 1]  # the sentence and the space after it
    else:
        s, e = starts[k] - 1, starts[k] + len(sents[k])  # the space before it
    return Edit(offset + s, offset + e, "", kind, li)


def apply(text: str, edits: list[Edit]) -> str:
    for ed in sorted(edits, key=lambda x: (x.start, x.end), reverse=True):
        text = text[: ed.start] + ed.text + text[ed.end :]
    return text


def expected_merge(base: str, e1: Edit, e2: Edit) -> str | None:
    """Both edits applied, or None when they overlap (no right answer)."""
    if (e1.start, e1.end, e1.text) == (e2.start, e2.end, e2.text):
        return apply(base, [e1])
    if e1.start == e1.end == e2.start == e2.end:
        return None  # two insertions at one point: order unknown
    if e1.end <= e2.start or e2.end <= e1.start:
        if e1.start == e1.end and e2.start < e1.start < e2.end:
            return None
        if e2.start == e2.end and e1.start < e2.start < e1.end:
            return None
        return apply(base, [e1, e2])
    return None


@dataclass
class Case:
    base: bytes
    ours: bytes
    theirs: bytes
    expected: bytes | None
    same_line: bool
    kinds: str
    touching: bool  # separate edits, but one ends where the other starts


def make_case(rng: random.Random, same_line_share: float) -> Case:
    lines = document(rng)
    eol = "\r\n" if rng.random() < 0.1 else "\n"
    base = render(lines, eol)
    offsets = []
    pos = 0
    for line in lines:
        offsets.append(pos)
        pos += len(line.text()) + len(eol)
    editable = [i for i, line in enumerate(lines) if line.editable]
    paragraphs = [i for i in editable if lines[i].prefix == "" and len(lines[i].sentences) >= 2]
    same_line = rng.random() < same_line_share and bool(paragraphs)
    if same_line:
        l1 = l2 = rng.choice(paragraphs)
    else:
        l1, l2 = rng.sample(editable, 2)
    e1 = make_edit(rng, lines, l1, offsets[l1])
    e2 = make_edit(rng, lines, l2, offsets[l2])
    exp = expected_merge(base, e1, e2)
    touching = exp is not None and (e1.start, e1.end, e1.text) != (e2.start, e2.end, e2.text) and (
        e1.end == e2.start or e2.end == e1.start
    )
    return Case(
        base=base.encode(),
        ours=apply(base, [e1]).encode(),
        theirs=apply(base, [e2]).encode(),
        expected=None if exp is None else exp.encode(),
        same_line=same_line,
        kinds=f"{e1.kind}+{e2.kind}",
        touching=touching,
    )


def git_merge(tmp: Path, case: Case) -> tuple[bool, bytes]:
    (tmp / "ours").write_bytes(case.ours)
    (tmp / "base").write_bytes(case.base)
    (tmp / "theirs").write_bytes(case.theirs)
    env = dict(os.environ, GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull)
    proc = subprocess.run(
        ["git", "merge-file", "-p", "-L", "HEAD", "-L", "base", "-L", "theirs",
         "ours", "base", "theirs"],
        cwd=tmp, capture_output=True, env=env,
    )
    if proc.returncode < 0 or proc.returncode >= 128:
        raise RuntimeError(f"git merge-file failed: {proc.stderr.decode(errors='replace')}")
    return proc.returncode == 0, proc.stdout


@dataclass
class Tally:
    cases: int = 0
    overlapping: int = 0
    touching: int = 0
    pvc_clean: int = 0
    git_clean: int = 0
    pvc_wrong: int = 0
    git_wrong: int = 0
    git_only: int = 0
    pvc_only: int = 0


def main(argv: list[str] | None = None) -> int:
    import benchenv

    benchenv.prepare()
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", type=int, default=500)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--same-line-share", type=float, default=0.4)
    ap.add_argument("--show", type=int, default=3, help="print up to N problem cases")
    args = ap.parse_args(argv)

    rng = random.Random(args.seed)
    cases = [make_case(rng, args.same_line_share) for _ in range(args.cases)]
    merge_texts(b"a\n", b"b\n", b"c\n")  # warm up lazy imports

    tallies = {"same line": Tally(), "different lines": Tally(), "all": Tally()}
    times: list[float] = []
    problems: list[str] = []
    tmp = Path(tempfile.mkdtemp(prefix="pvc-merge-bench-"))
    try:
        for n, case in enumerate(cases):
            t0 = time.perf_counter()
            res = merge_texts(case.base, case.ours, case.theirs)
            times.append((time.perf_counter() - t0) * 1000)
            g_clean, g_out = git_merge(tmp, case)
            p_wrong = res.clean and res.content != case.expected
            g_wrong = g_clean and g_out != case.expected
            for key in ("same line" if case.same_line else "different lines", "all"):
                t = tallies[key]
                t.cases += 1
                t.overlapping += case.expected is None
                t.touching += case.touching
                t.pvc_clean += res.clean
                t.git_clean += g_clean
                t.pvc_wrong += p_wrong
                t.git_wrong += g_wrong
                t.git_only += g_clean and not res.clean
                t.pvc_only += res.clean and not g_clean
            if p_wrong or (g_clean and not res.clean):
                what = "WRONG MERGE" if p_wrong else "git clean, pvc conflict"
                problems.append(
                    f"case {n} ({what}, {case.kinds}):\n--- base\n{case.base.decode()}"
                    f"--- ours\n{case.ours.decode()}--- theirs\n{case.theirs.decode()}"
                    f"--- pvc\n{res.content.decode()}"
                )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    cols = [
        ("cases", "cases"),
        ("overlapping", "edits overlap"),
        ("touching", "edits touch"),
        ("pvc_clean", "clean: pvc"),
        ("git_clean", "clean: git"),
        ("pvc_only", "pvc only"),
        ("git_only", "git only (must be 0)"),
        ("pvc_wrong", "wrong: pvc (must be 0)"),
        ("git_wrong", "wrong: git"),
    ]
    head = ["", *(label for _, label in cols)]
    rows = [[key, *(str(getattr(t, f)) for f, _ in cols)] for key, t in tallies.items()]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]

    def fmt(row):
        return " | ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))

    git_version = subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.strip()
    print(f"pvc merge vs {git_version} merge-file: {args.cases} cases, seed {args.seed}, "
          f"same-line share {args.same_line_share:.0%}")
    print()
    print(fmt(head))
    print("-+-".join("-" * w for w in widths))
    for row in rows:
        print(fmt(row))
    times.sort()
    p50 = statistics.median(times)
    p99 = times[min(len(times) - 1, int(round(0.99 * (len(times) - 1))))]
    print()
    print("edits overlap: no right answer, so any clean merge counts as wrong.  edits touch: one")
    print("edit ends where the other starts (git conflicts; pvc too unless the result is certain).")
    print(f"pvc merge time per file: p50 {p50:.2f} ms, p99 {p99:.2f} ms, max {times[-1]:.2f} ms")
    total = tallies["all"]
    for text in problems[: args.show]:
        print()
        print(text)
    ok = total.pvc_wrong == 0 and total.git_only == 0
    print()
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
