"""Multi-step actions the front ends make in one library call: a commit that runs
`pvc check` first (config check.on_commit), the daemon's autosave (add and commit as one
transaction, under the working-tree lock) and the daemon's sync step (porcelain.sync_step)."""

from __future__ import annotations

from pathlib import Path

import pytest

from promptvc.errors import CheckFailed, ErrorCode
from promptvc.repo import Repo

MARKER = "<<<<<<< ours\nx\n"


def commit(pvc, name: str, text: str, message: str) -> None:
    Path(name).write_text(text)
    assert pvc("add", name).exit_code == 0
    assert pvc("commit", "-m", message).exit_code == 0


# -- check on commit ------------------------------------------------------------------------
@pytest.fixture
def marked(repo, pvc):
    """A committed p.md, now edited to hold a leftover conflict marker."""
    commit(pvc, "p.md", "fine\n", "base")
    Path("p.md").write_text(MARKER)
    return Repo.open(repo)


def test_commit_changes_follows_check_on_commit(marked, pvc):
    before = marked.head()
    assert marked.commit_changes("off by default").message == "off by default"  # no check
    Path("p.md").write_text(MARKER + "y\n")
    assert pvc("config", "check.on_commit", "true").exit_code == 0
    repo = Repo.open(marked.root)
    try:
        head = repo.head()
        with pytest.raises(CheckFailed) as exc:
            repo.commit_changes("checked")
        assert exc.value.error_code is ErrorCode.CHECK
        assert exc.value.message == "pvc check found 1 problem; nothing was committed"
        assert [str(p) for p in exc.value.problems] == [
            "p.md:1: leftover conflict marker '<<<<<<<'"]
        assert repo.head() == head and head != before
        assert repo.commit_changes("anyway", check=False).message == "anyway"
    finally:
        repo.close()
        marked.close()


def test_check_true_runs_without_config_and_before_the_editor(marked):
    asked = []

    def editor() -> str:
        asked.append(1)
        return "from the editor"

    try:
        with pytest.raises(CheckFailed):
            marked.commit_changes(editor, check=True)
        assert asked == []  # a refused commit never opens the editor
        assert marked.commit_changes(editor).message == "from the editor"  # config: off
        assert asked == [1]
    finally:
        marked.close()
