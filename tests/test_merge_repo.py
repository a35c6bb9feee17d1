"""`pvc merge` on real repositories: fast-forward, clean merges, conflicts, abort/continue."""

from __future__ import annotations

import json

import pytest

PARA = ("You are a support agent. Answer briefly. Cite the article. "
        "Be kind to users.\n")
DOC = "# Support\n\n" + PARA + "\n- rule one\n- rule two\n"


def commit(pvc, msg):
    r = pvc("commit", "-m", msg)
    assert r.exit_code == 0, r.output
    return r


def sub(repo, path, old, new):
    p = repo / path
    text = p.read_text()
    assert old in text
    p.write_text(text.replace(old, new, 1))


def head(repo):
    from promptvc.repo import Repo

    r = Repo.open(repo)
    try:
        return r.head(), r.commit("HEAD")
    finally:
        r.close()


def diverge(repo, pvc, old: str, theirs: str, ours: str) -> None:
    """Branch exp replaces OLD in p.md by THEIRS; main replaces it by OURS."""
    pvc("switch", "-c", "exp")
    sub(repo, "p.md", old, theirs)
    commit(pvc, "exp edit")
    pvc("switch", "main")
    sub(repo, "p.md", old, ours)
    commit(pvc, "main edit")


@pytest.fixture
def base(repo, pvc):
    (repo / "p.md").write_text(DOC)
    (repo / "other.md").write_text("other\n")
    pvc("add", "p.md", "other.md")
    commit(pvc, "base")
    return repo


def test_same_paragraph_different_sentences_merge_cleanly(base, pvc):
    pvc("switch", "-c", "exp")
    sub(base, "p.md", "Answer briefly.", "Answer in two sentences.")
    commit(pvc, "exp edit")
    pvc("switch", "main")
    sub(base, "p.md", "Be kind to users.", "Be kind and patient with users.")
    commit(pvc, "main edit")
    before, _ = head(base)
    r = pvc("merge", "exp")
    assert r.exit_code == 0, r.output
    cid, info = head(base)
    assert r.stdout == f"Auto-merging p.md\n[main {cid[:8]}] Merge branch 'exp' into main\n"
    assert (base / "p.md").read_text() == DOC.replace("Answer briefly.", "Answer in two sentences.").replace(
        "Be kind to users.", "Be kind and patient with users.")
    assert info.parents[0] == before and len(info.parents) == 2
    assert pvc("fsck").exit_code == 0
    assert pvc("status", "-s").stdout == ""
    # the merged version records both parents
    from promptvc.repo import Repo

    repo = Repo.open(base)
    row = repo.store.get_version_row(repo.tree(cid)["p.md"])
    theirs = repo.tree(repo.resolve("exp"))["p.md"]
    ours = repo.tree(before)["p.md"]
    assert (row.parent_version_id, row.parent2_version_id) == (ours, theirs)
    repo.close()


def test_same_sentence_conflicts_then_continue(base, pvc):
    diverge(base, pvc, "Cite the article.", "Cite the help article.", "Always cite sources.")
    r = pvc("merge", "exp")
    assert r.exit_code == 1
    assert r.stdout == "Auto-merging p.md\nCONFLICT (content): Merge conflict in p.md\n"
    assert r.stderr == ("Automatic merge failed; fix conflicts and then run `pvc merge --continue` "
                        "(or `pvc merge --abort`).\n")
    ours = PARA.replace("Cite the article.", "Always cite sources.")
    theirs = PARA.replace("Cite the article.", "Cite the help article.")
    assert (base / "p.md").read_text() == (f"# Support\n\n<<<<<<< HEAD\n{ours}=======\n{theirs}"
                                           ">>>>>>> exp\n\n- rule one\n- rule two\n")
    assert pvc("status", "-s").stdout == "UU p.md\n"  # listed once, as unmerged
    r = pvc("merge", "--continue")
    assert r.exit_code == 1
    assert r.stderr == ("error: conflict markers remain in p.md\nhint: edit the files to resolve "
                        "every <<<<<<< ... >>>>>>> block, then run `pvc merge --continue` again\n")
    r = pvc("switch", "exp")
    assert r.exit_code == 1 and "a merge is in progress" in r.stderr
    (base / "p.md").write_text(DOC.replace("Cite the article.", "Always cite the help article."))
    r = pvc("merge", "--continue")
    assert r.exit_code == 0, r.output
    cid, info = head(base)
    assert r.stdout == f"[main {cid[:8]}] Merge branch 'exp' into main\n"
    assert len(info.parents) == 2
    assert pvc("status", "-s").stdout == ""
    assert pvc("fsck").exit_code == 0


def test_diff3_markers(base, pvc):
    diverge(base, pvc, "Cite the article.", "Cite the help article.", "Always cite sources.")
    assert pvc("merge", "--diff3", "exp").exit_code == 1
    text = (base / "p.md").read_text()
    assert f"||||||| base\n{PARA}=======\n" in text


def test_abort_restores_exactly(base, pvc):
    pvc("switch", "-c", "exp")
    sub(base, "p.md", "Cite the article.", "Cite the help article.")
    (base / "new.md").write_text("added on exp\n")
    pvc("add", "new.md")
    pvc("rm", "other.md")
    commit(pvc, "exp edit")
    pvc("switch", "main")
    sub(base, "p.md", "Cite the article.", "Always cite sources.")
    commit(pvc, "main edit")
    snapshot = {p.name: p.read_bytes() for p in base.iterdir() if p.is_file()}
    before, _ = head(base)
    assert pvc("merge", "exp").exit_code == 1
    assert (base / "new.md").exists() and not (base / "other.md").exists()
    r = pvc("merge", "--abort")
    assert r.stdout == f"Merge aborted; working files are back at {before[:8]}\n"
    assert {p.name: p.read_bytes() for p in base.iterdir() if p.is_file()} == snapshot
    assert head(base)[0] == before
    assert pvc("status", "-s").stdout == ""
    assert pvc("merge", "--abort").stderr == "error: there is no merge in progress\nhint: nothing to abort\n"


def test_fast_forward_up_to_date_and_no_ff(base, pvc):
    pvc("branch", "exp")
    pvc("switch", "exp")
    sub(base, "p.md", "Answer briefly.", "Answer now.")
    commit(pvc, "exp edit")
    exp_head, _ = head(base)
    pvc("switch", "main")
    before, _ = head(base)
    r = pvc("merge", "exp")
    assert r.stdout == f"Updating {before[:8]}..{exp_head[:8]}\nFast-forward\n"
    assert head(base)[0] == exp_head
    assert "Answer now." in (base / "p.md").read_text()
    assert pvc("merge", "exp").stdout == "Already up to date.\n"
    pvc("switch", "-c", "exp2")
    sub(base, "p.md", "rule one", "rule 1")
    commit(pvc, "exp2")
    pvc("switch", "main")
    r = pvc("merge", "--no-ff", "exp2", "-m", "merge exp2", "--json")
    data = json.loads(r.stdout)
    assert data["result"] == "merged"
    assert head(base)[1].message == "merge exp2"
    data = json.loads(pvc("reflog", "main", "--json").stdout)
    assert data[1]["action"] == "merge exp: Fast-forward"


def test_dirty_tree_refused(base, pvc):
    pvc("branch", "exp")
    (base / "p.md").write_text("dirty\n")
    r = pvc("merge", "exp")
    assert r.exit_code == 1
    assert r.stderr == ("error: cannot merge with uncommitted changes in p.md\n"
                        "hint: commit them (`pvc commit -m ...`) or discard them "
                        "(`pvc restore PATH`) first\n")


def test_rename_on_one_side_edit_on_other(base, pvc):
    pvc("switch", "-c", "exp")
    pvc("mv", "p.md", "support.md")
    commit(pvc, "rename")
    pvc("switch", "main")
    sub(base, "p.md", "rule two", "rule 2")
    commit(pvc, "edit")
    r = pvc("merge", "exp")
    assert r.exit_code == 0, r.output
    assert not (base / "p.md").exists()
    assert (base / "support.md").read_text() == DOC.replace("rule two", "rule 2")
    assert pvc("status", "-s").stdout == ""
    assert pvc("fsck").exit_code == 0
    show = json.loads(pvc("show", "--json", "HEAD").stdout)
    assert [(c["status"], c["path"], c["old_path"]) for c in show["changes"]] == [
        ("R", "support.md", "p.md")]


def test_delete_vs_edit_conflict(base, pvc):
    pvc("switch", "-c", "exp")
    pvc("rm", "other.md")
    commit(pvc, "delete other")
    pvc("switch", "main")
    (base / "other.md").write_text("other, edited\n")
    commit(pvc, "edit other")
    r = pvc("merge", "exp")
    assert r.exit_code == 1
    assert "CONFLICT (delete/modify): other.md deleted in exp and modified in HEAD" in r.stdout
    assert (base / "other.md").read_text() == "other, edited\n"
    r = pvc("merge", "--continue")
    assert r.exit_code == 0
    assert pvc("show", "HEAD:other.md").stdout == "other, edited\n"


def test_add_add(base, pvc):
    pvc("switch", "-c", "exp")
    (base / "same.md").write_text("same\n")
    (base / "diff.md").write_text("theirs\n")
    pvc("add", "same.md", "diff.md")
    commit(pvc, "adds")
    pvc("switch", "main")
    (base / "same.md").write_text("same\n")
    (base / "diff.md").write_text("ours\n")
    pvc("add", "same.md", "diff.md")
    commit(pvc, "adds too")
    r = pvc("merge", "exp")
    assert r.exit_code == 1
    assert "CONFLICT (add/add): Merge conflict in diff.md" in r.stdout
    assert (base / "same.md").read_text() == "same\n"
    assert (base / "diff.md").read_text() == "<<<<<<< HEAD\nours\n=======\ntheirs\n>>>>>>> exp\n"


def test_criss_cross_merge(base, pvc):
    """Two branches that merged each other, then both changed: still merges sensibly."""
    pvc("switch", "-c", "a")
    sub(base, "p.md", "rule one", "rule one (a)")
    commit(pvc, "a1")
    pvc("switch", "-c", "b", )
    pvc("switch", "main")
    pvc("switch", "-c", "b2")
    sub(base, "p.md", "rule two", "rule two (b)")
    commit(pvc, "b1")
    # criss-cross: a merges b2, b2 merges a (before seeing a's merge)
    pvc("switch", "a")
    assert pvc("merge", "b2", "-m", "a<-b").exit_code == 0
    pvc("switch", "b2")
    assert pvc("merge", "a~1", "-m", "b<-a").exit_code == 0
    sub(base, "p.md", "# Support", "# Support desk")
    commit(pvc, "b2 heading")
    pvc("switch", "a")
    sub(base, "p.md", "Answer briefly.", "Answer very briefly.")
    commit(pvc, "a answer")
    r = pvc("merge", "b2")
    assert r.exit_code == 0, r.output
    text = (base / "p.md").read_text()
    assert text == ("# Support desk\n\n" + PARA.replace("Answer briefly.", "Answer very briefly.")
                    + "\n- rule one (a)\n- rule two (b)\n")
    assert pvc("fsck").exit_code == 0


def test_log_range_and_three_dot_diff(base, pvc):
    pvc("switch", "-c", "exp")
    sub(base, "p.md", "rule one", "rule 1")
    commit(pvc, "exp 1")
    pvc("switch", "main")
    sub(base, "other.md", "other", "main change")
    commit(pvc, "main 1")
    r = pvc("log", "--oneline", "main..exp")
    assert [l.split(" ", 1)[1] for l in r.stdout.splitlines()] == ["(exp) exp 1"]
    r = pvc("diff", "main...exp")
    assert r.stdout == ("diff --git a/p.md b/p.md\n--- a/p.md\n+++ b/p.md\n@@ -2,5 +2,5 @@\n"
                        f" \n {PARA} \n-- rule one\n+- rule 1\n - rule two\n")


def test_commit_concludes_merge(base, pvc):
    pvc("switch", "-c", "exp")
    sub(base, "p.md", "Cite the article.", "Cite X.")
    commit(pvc, "e")
    pvc("switch", "main")
    sub(base, "p.md", "Cite the article.", "Cite Y.")
    commit(pvc, "m")
    pvc("merge", "exp")
    (base / "p.md").write_text(DOC.replace("Cite the article.", "Cite X and Y."))
    r = pvc("commit", "-m", "resolved")
    assert r.exit_code == 0, r.output
    assert len(head(base)[1].parents) == 2
