"""Tests for the pure text-level three-way merge (promptvc.textmerge)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from promptvc.textmerge import MergeResult, has_conflict_markers, merge_texts

PROPS = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=150,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def merge(base: bytes, ours: bytes, theirs: bytes, **kw) -> MergeResult:
    return merge_texts(base, ours, theirs, **kw)


# ---------------------------------------------------------------------------
# examples

PARA = (
    b"You are a helpful assistant. Answer in two sentences. "
    b"Always cite the source document.\n"
)


def test_module_import_is_light():
    code = (
        "import sys, promptvc.textmerge; "
        "print(' '.join(m for m in ('merge3', 'diff_match_patch', 'click', 'textual', 'watchdog') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_different_sentences_of_one_line_merge_cleanly():
    ours = PARA.replace(b"helpful", b"friendly")
    theirs = PARA.replace(b"the source document", b"every source")
    r = merge(PARA, ours, theirs)
    assert r.clean and r.conflicts == 0
    assert r.content == (
        b"You are a friendly assistant. Answer in two sentences. Always cite every source.\n"
    )


def test_same_sentence_edited_differently_conflicts_with_exact_markers():
    base = b"# Role\n\n" + PARA + b"\nEnd.\n"
    ours = base.replace(b"helpful", b"friendly")
    theirs = base.replace(b"helpful", b"concise")
    r = merge(base, ours, theirs, ours_label="main", theirs_label="feature")
    assert not r.clean and r.conflicts == 1
    assert r.content == (
        b"# Role\n\n"
        b"<<<<<<< main\n"
        b"You are a friendly assistant. Answer in two sentences. Always cite the source document.\n"
        b"=======\n"
        b"You are a concise assistant. Answer in two sentences. Always cite the source document.\n"
        b">>>>>>> feature\n"
        b"\nEnd.\n"
    )
    assert has_conflict_markers(r.content)


def test_diff3_shows_base_section():
    base = b"a\nThe sky is blue.\nz\n"
    ours = b"a\nThe sky is red.\nz\n"
    theirs = b"a\nThe sky is green.\nz\n"
    r = merge(base, ours, theirs, diff3=True, base_label="common")
    assert r.conflicts == 1
    assert r.content == (
        b"a\n<<<<<<< HEAD\nThe sky is red.\n||||||| common\nThe sky is blue.\n"
        b"=======\nThe sky is green.\n>>>>>>> theirs\nz\n"
    )


def test_default_labels():
    r = merge(b"x\n", b"y\n", b"z\n")
    assert r.content == b"<<<<<<< HEAD\ny\n=======\nz\n>>>>>>> theirs\n"


def test_identical_edits_on_both_sides_are_applied_once():
    ours = PARA.replace(b"helpful", b"friendly")
    r = merge(PARA, ours, ours)
    assert r.clean and r.content == ours
    # identical edit plus a different, separate edit on one side
    theirs = ours.replace(b"two sentences", b"three sentences")
    r = merge(PARA, ours, theirs)
    assert r.clean and r.content == theirs
    assert r.content.count(b"friendly") == 1


def test_identical_line_and_word_edits_in_multiline_region():
    base = b"one two three\nfour five six\n"
    ours = b"one TWO three\nfour five six\n"
    theirs = b"one TWO three\nfour five SIX\n"
    r = merge(base, ours, theirs)
    assert r.clean and r.content == theirs


def test_deletion_vs_edit_elsewhere_in_line_is_clean():
    ours = PARA.replace(b"Answer in two sentences. ", b"")
    theirs = PARA.replace(b"helpful", b"careful")
    r = merge(PARA, ours, theirs)
    assert r.clean
    assert r.content == b"You are a careful assistant. Always cite the source document.\n"


def test_deletion_vs_edit_inside_deleted_text_conflicts():
    ours = PARA.replace(b"Answer in two sentences. ", b"")
    theirs = PARA.replace(b"two sentences", b"three sentences")
    r = merge(PARA, ours, theirs)
    assert r.conflicts == 1
    assert r.content == (
        b"<<<<<<< HEAD\n" + ours + b"=======\n" + theirs + b">>>>>>> theirs\n"
    )


def test_whole_line_deleted_vs_line_edited_conflicts():
    base = b"a\nb\nc\n"
    r = merge(base, b"a\nc\n", b"a\nB\nc\n")
    assert r.conflicts == 1
    assert r.content == b"a\n<<<<<<< HEAD\n=======\nB\n>>>>>>> theirs\nc\n"


def test_insertions_at_the_same_point_conflict():
    base = b"Be brief. Be kind.\n"
    r = merge(base, b"Be brief. Be exact. Be kind.\n", b"Be brief. Be fast. Be kind.\n")
    assert not r.clean


def test_touching_edits_conflict():
    base = b"alpha beta gamma\n"
    # ours replaces "beta", theirs inserts right after it
    r = merge(base, b"alpha BETA gamma\n", b"alpha beta, gamma\n")
    assert not r.clean


def test_edits_on_different_lines_merge_like_git():
    base = b"# T\n\nline one\nline two\nline three\n"
    ours = b"# T\n\nline ONE\nline two\nline three\n"
    theirs = b"# T\n\nline one\nline two\nline THREE\n"
    r = merge(base, ours, theirs)
    assert r.clean and r.content == b"# T\n\nline ONE\nline two\nline THREE\n"
    # adjacent lines: git conflicts, the token-level merge does not
    theirs2 = b"# T\n\nline one\nline TWO\nline three\n"
    r = merge(base, ours, theirs2)
    assert r.clean and r.content == b"# T\n\nline ONE\nline TWO\nline three\n"


def test_adjacent_line_deletions_conflict_like_git():
    # touching edits conflict; the output is the same as git merge-file's
    base = b"keep\none\ntwo\nkeep too\n"
    r = merge(base, b"keep\ntwo\nkeep too\n", b"keep\none\nkeep too\n")
    assert r.conflicts == 1
    assert r.content == b"keep\n<<<<<<< HEAD\ntwo\n=======\none\n>>>>>>> theirs\nkeep too\n"


def test_both_sides_delete_the_same_lines():
    base = b"a\nb\nc\nd\n"
    r = merge(base, b"a\nd\n", b"a\nd\n")
    assert r.clean and r.content == b"a\nd\n"
    r = merge(base + b"e\nf\n", b"a\nd\ne\nf\n", b"a\nd\ne\nF\n")
    assert r.clean and r.content == b"a\nd\ne\nF\n"
    # one side also changes the line next to the deletion: git conflicts too
    r = merge(base, b"a\nd\n", b"A\nd\n")
    assert r.content == b"<<<<<<< HEAD\na\n=======\nA\n>>>>>>> theirs\nd\n"


def test_crlf_preserved():
    base = PARA.replace(b"\n", b"\r\n") + b"Second line here.\r\n"
    ours = base.replace(b"helpful", b"friendly")
    theirs = base.replace(b"Second", b"Third")
    r = merge(base, ours, theirs)
    assert r.clean
    assert r.content == base.replace(b"helpful", b"friendly").replace(b"Second", b"Third")
    assert r.content.count(b"\r\n") == 2 and b"\n" not in r.content.replace(b"\r\n", b"")


def test_crlf_conflict_markers_use_crlf():
    base = b"x\r\nThe sky is blue.\r\ny\r\n"
    r = merge(base, base.replace(b"blue", b"red"), base.replace(b"blue", b"grey"))
    assert r.content == (
        b"x\r\n<<<<<<< HEAD\r\nThe sky is red.\r\n=======\r\nThe sky is grey.\r\n"
        b">>>>>>> theirs\r\ny\r\n"
    )


def test_mixed_line_endings_byte_exact():
    base = b"one two\r\nthree four\nfive six\r\nseven"
    ours = b"one 2\r\nthree four\nfive six\r\nseven"
    theirs = b"one two\r\nthree four\nfive six\r\nSEVEN"
    r = merge(base, ours, theirs)
    assert r.clean and r.content == b"one 2\r\nthree four\nfive six\r\nSEVEN"


def test_no_trailing_newline():
    base = b"Answer briefly. Cite sources."
    r = merge(base, b"Answer very briefly. Cite sources.", b"Answer briefly. Cite all sources.")
    assert r.clean and r.content == b"Answer very briefly. Cite all sources."


def test_no_trailing_newline_conflict_gets_newline_before_marker():
    base = b"head\nAnswer briefly."
    r = merge(base, b"head\nAnswer slowly.", b"head\nAnswer loudly.")
    assert r.conflicts == 1
    assert r.content == (
        b"head\n<<<<<<< HEAD\nAnswer slowly.\n=======\nAnswer loudly.\n>>>>>>> theirs\n"
    )


def test_one_side_removes_trailing_newline():
    base = b"a\nb\nc\n"
    r = merge(base, b"A\nb\nc\n", b"a\nb\nc")
    assert r.clean and r.content == b"A\nb\nc"


def test_empty_base_add_add():
    r = merge(b"", b"hello\n", b"hello\n")
    assert r.clean and r.content == b"hello\n"
    r = merge(b"", b"hello\n", b"world\n")
    assert r.conflicts == 1
    assert r.content == b"<<<<<<< HEAD\nhello\n=======\nworld\n>>>>>>> theirs\n"


def test_add_add_with_common_lines_keeps_them_outside_the_conflict():
    r = merge(b"", b"# Title\nours\n", b"# Title\ntheirs\n")
    assert r.conflicts == 1
    assert r.content == b"# Title\n<<<<<<< HEAD\nours\n=======\ntheirs\n>>>>>>> theirs\n"


def test_empty_texts():
    assert merge(b"", b"", b"") == MergeResult(b"", 0)
    assert merge(b"x\n", b"", b"").content == b""
    r = merge(b"x\n", b"", b"y\n")
    assert r.conflicts == 1
    assert r.content == b"<<<<<<< HEAD\n=======\ny\n>>>>>>> theirs\n"


def test_trivial_identities():
    base = b"Some base text.\nSecond line.\n"
    x = b"Something else entirely\r\nno newline"
    assert merge(base, x, base) == MergeResult(x, 0)
    assert merge(base, base, x) == MergeResult(x, 0)
    assert merge(base, x, x) == MergeResult(x, 0)


def test_unicode():
    base = "Réponds en français. 回答要简洁。 Emoji 👍 ok.\n".encode()
    ours = "Réponds en français poli. 回答要简洁。 Emoji 👍 ok.\n".encode()
    theirs = "Réponds en français. 回答要简洁。 Emoji 🎉 ok.\n".encode()
    r = merge(base, ours, theirs)
    assert r.clean
    assert r.content == "Réponds en français poli. 回答要简洁。 Emoji 🎉 ok.\n".encode()


def test_cjk_characters_merge_individually():
    base = "我们今天去公园散步。\n".encode()
    ours = "我们明天去公园散步。\n".encode()
    theirs = "我们今天去公园跑步。\n".encode()
    r = merge(base, ours, theirs)
    assert r.clean and r.content == "我们明天去公园跑步。\n".encode()


def test_non_utf8_line_level_merge_and_conflict():
    base = b"caf\xe9 one\nmiddle\ncaf\xe9 two\n"
    ours = b"caf\xe9 ONE\nmiddle\ncaf\xe9 two\n"
    theirs = b"caf\xe9 one\nmiddle\ncaf\xe9 TWO\n"
    r = merge(base, ours, theirs)
    assert r.clean and r.content == b"caf\xe9 ONE\nmiddle\ncaf\xe9 TWO\n"
    # same line: no fine-grained merge on undecodable bytes
    r = merge(b"caf\xe9 a b\n", b"caf\xe9 A b\n", b"caf\xe9 a B\n")
    assert r.conflicts == 1
    assert r.content == b"<<<<<<< HEAD\ncaf\xe9 A b\n=======\ncaf\xe9 a B\n>>>>>>> theirs\n"


def test_very_long_line():
    words = [f"word{i}" for i in range(20000)]
    base = (" ".join(words) + "\n").encode()
    ow = list(words)
    ow[100] = "CHANGED"
    tw = list(words)
    tw[19000] = "ALSO"
    r = merge(base, (" ".join(ow) + "\n").encode(), (" ".join(tw) + "\n").encode())
    ew = list(words)
    ew[100] = "CHANGED"
    ew[19000] = "ALSO"
    assert r.clean and r.content == (" ".join(ew) + "\n").encode()


def test_wholesale_rewrites_fail_fast():
    import random

    rng = random.Random(7)
    vocab = [f"w{i}" for i in range(300)]

    def para():
        return (" ".join(rng.choice(vocab) for _ in range(3000)) + "\n").encode()

    r = merge(para(), para(), para())
    assert r.conflicts == 1
    lines = [para() for _ in range(300)]
    r = merge(
        b"".join(lines),
        b"".join(x if i % 2 else para() for i, x in enumerate(lines)),
        b"".join(para() if i % 2 else x for i, x in enumerate(lines)),
    )
    assert r.conflicts == 1


def test_ambiguous_repeated_words_conflict_instead_of_guessing():
    # ours deletes one "very"; theirs changes the middle one -- which one was
    # deleted is unknowable, so this must not merge silently
    base = b"It is very very very good.\n"
    r = merge(base, b"It is very very good.\n", b"It is very REALLY very good.\n")
    assert not r.clean


def test_ambiguous_insertion_in_repetition_conflicts():
    base = b"la la la la end\n"
    r = merge(base, b"la la la la la end\n", b"la X la la la end\n")
    assert not r.clean


def test_multiple_conflict_regions_are_counted():
    base = b"one\n\ntwo\n\nthree\n"
    ours = b"ONE\n\ntwo\n\nTHREE\n"
    theirs = b"uno\n\ntwo\n\ntres\n"
    r = merge(base, ours, theirs)
    assert r.conflicts == 2
    assert r.content.count(b"<<<<<<< HEAD\n") == 2


def test_has_conflict_markers():
    assert has_conflict_markers(b"a\n<<<<<<< HEAD\nx\n=======\ny\n>>>>>>> theirs\n")
    assert has_conflict_markers(b"<<<<<<< ours\r\nx\r\n")
    assert has_conflict_markers(b"left over\n>>>>>>> theirs")
    assert not has_conflict_markers(b"Title\n=======\n\ntext\n")  # markdown heading
    assert not has_conflict_markers(b"x <<<<<<< y\n")
    assert not has_conflict_markers(b"<<<<<<<<< not a marker\n")
    assert not has_conflict_markers(b"")


# ---------------------------------------------------------------------------
# property tests

# A small vocabulary: words repeat a lot, so alignments can be ambiguous.
SMALL_VOCAB = (
    "the a an model user assistant answer question context document source "
    "must should never always briefly clearly step reason list format json "
    "output input tool call result error polite concise helpful safe and or "
    "but if then with without in on for to of is are be use give keep"
).split()

# A large vocabulary, used without repetition: every base word is unique, so
# a set of separated edits has exactly one sensible interpretation.
BIG_VOCAB = sorted(set((
    "ability able about above accept according account across action activity "
    "actually address admit adult affect after again against agency agent agree "
    "ahead allow almost alone along already also although among amount analysis "
    "animal another answer anyone anything appear apply approach area argue arm "
    "around arrive article artist assume attack attention audience author "
    "available avoid away baby back bad bag ball bank bar base beat beautiful "
    "because become bed before begin behavior behind believe benefit best better "
    "between beyond big bill billion bit black blood blue board body book born "
    "both box boy break bring brother budget build building business buy call "
    "camera campaign cancer candidate capital car card care career carry case "
    "catch cause cell center central century certain chair challenge chance "
    "change character charge check child choice choose church citizen city civil "
    "claim class clear clearly close coach cold collection college color come "
    "commercial common community company compare computer concern condition "
    "conference consider consumer contain continue control cost could country "
    "couple course court cover create crime cultural culture cup current customer "
    "cut dark data daughter dead deal death debate decade decide decision deep "
    "defense degree democrat describe design despite detail determine develop "
    "difference different difficult dinner direction director discover discuss "
    "disease doctor dog door down draw dream drive drop drug during each early "
    "east easy eat economic economy edge education effect effort eight either "
    "election else employee end energy enjoy enough enter entire environment "
    "especially establish evening event ever every evidence exactly example "
    "executive exist expect experience expert explain eye face fact factor fail "
    "fall family far fast father fear federal feel feeling few field fight figure "
    "fill film final finally financial find fine finger finish fire firm first "
    "fish five floor fly focus follow food foot force foreign forget form former "
    "forward four free friend front full fund future game garden gas general "
    "generation girl glass goal good government great green ground group grow "
    "growth guess gun guy hair half hand hang happen happy hard head health hear "
    "heart heat heavy help here herself high himself history hold home hope "
    "hospital hot hotel hour house however huge human hundred husband idea "
    "identify image imagine impact important improve include including increase "
    "indeed indicate individual industry information inside instead institution "
    "interest interview into investment issue item itself job join just keep key "
    "kid kill kind kitchen know knowledge land language large last late later "
    "laugh law lawyer lay lead leader learn least leave left leg legal less "
    "letter level lie life light like likely line list listen little live local "
    "long look lose loss lot love low machine magazine main maintain major "
    "manage manager many market marriage material matter maybe mean measure media "
    "medical meet meeting member memory mention message method middle might "
    "military million mind minute miss mission model modern moment money month "
    "more morning most mother mouth move movement movie much music must myself "
    "name nation national natural nature near nearly necessary need network "
    "never news newspaper next nice night none nor north note nothing notice now "
    "number occur off offer office officer official often oil old once only onto "
    "open operation opportunity option order organization other others outside "
    "over own owner page pain painting paper parent part participant particular "
    "partner party pass past patient pattern pay peace people per perform "
    "perhaps period person personal phone physical pick picture piece place plan "
    "plant play player point police policy political poor popular population "
    "position positive possible power practice prepare present president "
    "pressure pretty prevent price private probably problem process produce "
    "product production professional professor program project property protect "
    "prove provide public pull purpose push put quality question quickly quite "
    "race radio raise range rate rather reach read ready real reality realize "
    "really reason receive recent recently recognize record red reduce reflect "
    "region relate relationship religious remain remember remove report "
    "represent require research resource respond response rest result return "
    "reveal rich right rise risk road rock role room rule run safe same save say "
    "scene school science scientist score sea season seat second section "
    "security seek seem sell send senior sense series serious serve service set "
    "seven several shake share shoot short shot should shoulder show side sign "
    "significant similar simple simply since sing single sister sit site "
    "situation six size skill skin small smile social society soldier some "
    "somebody someone something sometimes song soon sort sound source south "
    "southern space speak special specific speech spend sport spring staff stage "
    "stand standard star start state statement station stay step still stock "
    "stop store story strategy street strong structure student study stuff style "
    "subject success successful such suddenly suffer suggest summer support sure "
    "surface system table take talk task tax teach teacher team technology "
    "television tell ten tend term test than thank that their them themselves "
    "then theory there these they thing think third this those though thought "
    "thousand threat three through throughout throw thus time today together "
    "tonight total tough toward town trade traditional training travel treat "
    "treatment tree trial trip trouble true truth try turn type under understand "
    "unit until upon usually value various very victim view violence visit voice "
    "vote wait walk wall want war watch water weapon wear week weight well west "
    "western what whatever when where whether which while white whole whom whose "
    "why wide wife will win wind window wish within without woman wonder word "
    "work worker world worry would write writer wrong yard yeah year yes yet "
    "young yourself"
).split()))


@st.composite
def documents(draw, unique: bool = True):
    """A base document: (lines, eol, final_eol); each line is (prefix, words)
    where the prefix ("", "- " or "## ") is never edited.  With ``unique``
    no word occurs twice."""
    if unique:
        shuffled = list(BIG_VOCAB)
        draw(st.randoms(use_true_random=False)).shuffle(shuffled)
        pool = iter(shuffled)
        word = lambda: next(pool)  # noqa: E731
    else:
        word = lambda: draw(st.sampled_from(SMALL_VOCAB))  # noqa: E731
    n_lines = draw(st.integers(1, 6))
    lines = []
    for _ in range(n_lines):
        if draw(st.booleans()):  # long one-line paragraph of several sentences
            words = []
            for _ in range(draw(st.integers(2, 4))):
                sentence = [word() for _ in range(draw(st.integers(3, 10)))]
                sentence[0] = sentence[0].capitalize()
                sentence[-1] += "."
                words.extend(sentence)
            prefix = ""
        else:
            words = [word() for _ in range(draw(st.integers(1, 6)))]
            prefix = draw(st.sampled_from(["", "", "- ", "## "]))
        lines.append((prefix, words))
    eol = draw(st.sampled_from(["\n", "\r\n"]))
    final_eol = draw(st.booleans())
    return lines, eol, final_eol


def render(lines, eol, final_eol) -> bytes:
    text = eol.join(prefix + " ".join(words) for prefix, words in lines)
    if final_eol:
        text += eol
    return text.encode()


def apply_edits(lines, edits):
    """edits: {(line, index): (kind, word)}; kinds: rep, del, ins (before index;
    index == len(line) appends)."""
    out = []
    for li, (prefix, words) in enumerate(lines):
        new = []
        for wi in range(len(words) + 1):
            kind, word = edits.get((li, wi), (None, None))
            if kind == "ins":
                new.append(word)
            if wi == len(words):
                break
            if kind == "del":
                continue
            new.append(word if kind == "rep" else words[wi])
        out.append((prefix, new))
    return out


@st.composite
def edit_sets(draw, lines, overlapping: bool):
    """Two edit sets over the same document.  Inserted and replacement words
    are fresh (never in the base).  Unless ``overlapping``, positions of the
    two sets are at least two words apart."""
    slots = [(li, wi) for li, (_, words) in enumerate(lines) for wi in range(len(words) + 1)]
    flat = {s: k for k, s in enumerate(slots)}  # global order of positions
    picks = draw(st.lists(st.sampled_from(slots), min_size=2, max_size=8, unique=True))
    sides = draw(st.lists(st.booleans(), min_size=len(picks), max_size=len(picks)))
    sets = ({}, {})
    counter = draw(st.integers(0, 10_000))
    for n, ((li, wi), side) in enumerate(zip(picks, sides)):
        if not overlapping and any(abs(flat[(li, wi)] - flat[q]) < 2 for q in sets[not side]):
            continue  # too close to an edit of the other side: skip this one
        words = lines[li][1]
        if wi == len(words):
            kind = "ins"
        else:
            kind = draw(st.sampled_from(["rep", "del", "ins"]))
        if kind == "del":
            neighbours = words[max(wi - 1, 0) : wi] + words[wi + 1 : wi + 2]
            # deleting a word next to an identical word, or the last word of a
            # line, is ambiguous / empties the line: replace it instead
            if len(words) == 1 or words[wi] in neighbours:
                kind = "rep"
        fresh = f"zq{counter}x{n}{'ab'[side]}"
        sets[side][(li, wi)] = (kind, fresh)
    if not sets[0] or not sets[1]:
        return None
    return sets


def _cases(data, unique, overlapping):
    lines, eol, final_eol = data.draw(documents(unique=unique))
    sets = data.draw(edit_sets(lines, overlapping=overlapping))
    if sets is None:
        return None
    e1, e2 = sets
    base = render(lines, eol, final_eol)
    ours = render(apply_edits(lines, e1), eol, final_eol)
    theirs = render(apply_edits(lines, e2), eol, final_eol)
    expected = render(apply_edits(lines, {**e1, **e2}), eol, final_eol)
    return e1, e2, base, ours, theirs, expected


@PROPS
@given(data=st.data())
def test_property_non_overlapping_edits_merge_cleanly(data):
    case = _cases(data, unique=True, overlapping=False)
    if case is None:
        return
    e1, e2, base, ours, theirs, expected = case
    r = merge(base, ours, theirs)
    assert r.clean, r.content.decode()
    assert r.content == expected
    # the merge is symmetric
    assert merge(base, theirs, ours) == MergeResult(expected, 0)


@PROPS
@given(data=st.data())
def test_property_repetitive_text_never_merges_wrongly(data):
    """With heavily repeated words an edit's position can be ambiguous; the
    merge may then conflict, but a clean result must be the right one."""
    case = _cases(data, unique=False, overlapping=False)
    if case is None:
        return
    e1, e2, base, ours, theirs, expected = case
    r = merge(base, ours, theirs)
    if r.clean:
        assert r.content == expected
    else:
        assert has_conflict_markers(r.content)


@pytest.mark.parametrize("unique", [True, False], ids=["unique-words", "repetitive"])
@PROPS
@given(data=st.data())
def test_property_overlapping_edits_never_drop_or_duplicate(unique, data):
    case = _cases(data, unique=unique, overlapping=True)
    if case is None:
        return
    e1, e2, base, ours, theirs, _ = case
    r = merge(base, ours, theirs)
    if r.clean:
        assert not has_conflict_markers(r.content)
        for kind, word in list(e1.values()) + list(e2.values()):
            if kind != "del":
                assert r.content.count(word.encode()) == 1, word
        # edits of the same word slot (other than deleting the same word on
        # both sides, which is one and the same change) cannot merge cleanly
        for slot in set(e1) & set(e2):
            assert e1[slot][0] == e2[slot][0] == "del"
    else:
        assert has_conflict_markers(r.content)
        assert r.content.count(b"<<<<<<< HEAD") == r.conflicts
        assert r.content.count(b">>>>>>> theirs") == r.conflicts
        # each side's new words survive, inside or outside the conflict
        for kind, word in list(e1.values()) + list(e2.values()):
            if kind != "del":
                assert r.content.count(word.encode()) >= 1, word


arbitrary_text = st.lists(
    st.one_of(
        st.sampled_from([b"\n", b"\r\n", b"\r", b" ", b"word", b"\xc3\xa9", "日本".encode(), b"\xff"]),
        st.binary(max_size=8),
        st.text(max_size=8).map(str.encode),
    ),
    max_size=20,
).map(b"".join)


@PROPS
@given(base=arbitrary_text, x=arbitrary_text)
def test_property_one_sided_change_wins(base, x):
    assert merge(base, x, base) == MergeResult(x, 0)
    assert merge(base, base, x) == MergeResult(x, 0)
    assert merge(base, x, x) == MergeResult(x, 0)


@PROPS
@given(base=arbitrary_text, ours=arbitrary_text, theirs=arbitrary_text)
def test_property_arbitrary_bytes_never_crash(base, ours, theirs):
    r = merge(base, ours, theirs)
    assert isinstance(r.content, bytes)
    swapped = merge(base, theirs, ours)
    assert swapped.clean == r.clean
    if r.clean:
        assert swapped.content == r.content
    else:
        assert has_conflict_markers(r.content)


# ---------------------------------------------------------------------------
# same inputs, same result: no clock decides a merge

class _RacingClock:
    """A clock for a machine slowed to a crawl: every reading is 1,000 s later
    than the one before."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        self.now += 1000.0
        return self.now


def _on_a_crawling_machine(fn, *args, **kw):
    import time
    from unittest import mock

    clock = _RacingClock()
    with mock.patch.object(time, "time", clock), mock.patch.object(time, "monotonic", clock), \
            mock.patch.object(time, "perf_counter", clock):
        return fn(*args, **kw)


# two word edits on each side of one line: each side's token diff needs the
# Myers bisection, whose old deadline (one second) a slow machine passed at once
_SENTENCE = (b"You are a helpful assistant who answers in two short sentences and "
             b"always cites the source document it used.\n")
CLOCK_CASES = [
    (_SENTENCE,
     _SENTENCE.replace(b"helpful", b"friendly").replace(b"two short", b"three short"),
     _SENTENCE.replace(b"always cites", b"never hides").replace(b"it used", b"it read")),
    (b"# Role\n\n" + PARA + b"\nEnd.\n",
     b"# Role\n\n" + PARA.replace(b"helpful", b"careful").replace(b"two", b"three") + b"\nEnd.\n",
     b"# Role\n\n" + PARA.replace(b"the source", b"every").replace(b"Always", b"Please") + b"\nEnd.\n"),
    (b"a b c d e f g h\n", b"a B c D e f g h\n", b"a b c d e F g H\n"),
]


@pytest.mark.parametrize("case", range(len(CLOCK_CASES)))
def test_a_slow_machine_merges_exactly_like_a_fast_one(case):
    base, ours, theirs = CLOCK_CASES[case]
    fast = merge(base, ours, theirs)
    assert fast.clean  # the case needs the token-level merge, and it succeeds
    assert _on_a_crawling_machine(merge, base, ours, theirs) == fast


def test_reordered_text_stops_at_the_work_budget_the_same_way_every_time():
    import random

    rng = random.Random(5)
    words = [f"w{i}" for i in range(1500)]
    shuffled = list(words)
    rng.shuffle(shuffled)
    edited = list(words)
    edited[3] = "X"
    base, ours, theirs = (" ".join(w).encode() + b"\n" for w in (words, shuffled, edited))
    r = merge(base, ours, theirs)
    assert r.conflicts == 1  # the token diff ran out of budget: a conflict, not a guess
    assert r.content == b"<<<<<<< HEAD\n" + ours + b"=======\n" + theirs + b">>>>>>> theirs\n"
    assert _on_a_crawling_machine(merge, base, ours, theirs) == r


def test_the_work_budget_decides_not_the_clock(monkeypatch):
    import promptvc.textmerge as M

    base, ours, theirs = CLOCK_CASES[0]
    assert merge(base, ours, theirs).clean
    monkeypatch.setattr(M, "FINE_MERGE_BUDGET", 10)
    starved = merge(base, ours, theirs)
    assert starved.conflicts == 1
    assert _on_a_crawling_machine(merge, base, ours, theirs) == starved


def test_merge_module_reads_no_clock():
    import ast
    from pathlib import Path

    import promptvc.finemerge
    import promptvc.textmerge

    for M in (promptvc.textmerge, promptvc.finemerge):
        tree = ast.parse(Path(M.__file__).read_text())
        imported = {a.name for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))
                    for a in n.names} | {n.module for n in ast.walk(tree)
                                         if isinstance(n, ast.ImportFrom)}
        assert not imported & {"time", "datetime", "clock"}, M.__name__
        assert not [n for n in dir(M) if n.endswith("_SECONDS")], M.__name__


@PROPS
@given(data=st.data())
def test_property_same_inputs_same_result_on_any_machine(data):
    case = _cases(data, unique=data.draw(st.booleans()), overlapping=data.draw(st.booleans()))
    if case is None:
        return
    _, _, base, ours, theirs, _ = case
    first = merge(base, ours, theirs)
    assert merge(base, ours, theirs) == first
    assert _on_a_crawling_machine(merge, base, ours, theirs) == first
