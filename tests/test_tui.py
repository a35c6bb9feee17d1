"""`pvc tui`: every interaction driven through Textual's pilot, on repositories built with
the CLI (pinned dates), plus unit tests of the pure parts (filter parsing, side-by-side
pairing, the lazy log walk)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from promptvc.errors import NotARepository
from promptvc.repo import CommitInfo, Repo

pytest.importorskip("textual")

from textual.widgets import Input  # noqa: E402
from textual.worker import WorkerCancelled  # noqa: E402

from promptvc.tui import data as tui_data  # noqa: E402
from promptvc.tui import files_pane  # noqa: E402
from promptvc.tui.app import PvcApp, make_app  # noqa: E402
from promptvc.tui.filters import LogFilter, parse_filter  # noqa: E402
from promptvc.tui.log_pane import MERGE_GLYPH, LogPane, commit_cells  # noqa: E402
from promptvc.tui.render import Palette, side_by_side_rows  # noqa: E402
from promptvc.tui.screens import HelpScreen, PromptScreen  # noqa: E402

SIZE = (100, 30)
NOW = "2024-06-01T12:00:00+00:00"  # the TUI's "now" (PVC_DATE): dates within a year show a time
SYSTEM_1 = "You are a helpful assistant.\nAnswer briefly.\n"
SYSTEM_2 = "You are a helpful, precise assistant.\nAnswer briefly.\nCite sources.\n"
SYSTEM_4 = "You are a helpful, precise assistant.\nAnswer in one paragraph.\nCite sources.\n"
SUMMARY_1 = "Summarise the text.\n"
SUMMARY_3 = "Summarise the text in three bullet points.\n"


@pytest.fixture(autouse=True)
def pinned_now(monkeypatch):
    """The log's date format depends on "now": pin it, as for commits."""
    monkeypatch.setenv("PVC_DATE", NOW)


def _ok(result) -> None:
    assert result.exit_code == 0, result.output


def _write(root: Path, rel: str, text: str) -> None:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text, encoding="utf-8")


@pytest.fixture
def history(repo, pvc) -> Path:
    """main: c1 Initial prompts -> c2 (Alan; branch `feature`) -> c3 (tag v1) -> c4."""
    _write(repo, "prompts/system.md", SYSTEM_1)
    _write(repo, "prompts/summary.md", SUMMARY_1)
    _ok(pvc("add", "prompts"))
    _ok(pvc("commit", "-m", "Initial prompts", "--date", "2024-01-01T10:00:00+00:00"))
    _write(repo, "prompts/system.md", SYSTEM_2)
    _ok(pvc("commit", "-m", "Make the system prompt precise", "--author",
            "Alan Turing <alan@example.com>", "--date", "2024-01-02T10:00:00+00:00"))
    _ok(pvc("branch", "feature"))
    _write(repo, "prompts/summary.md", SUMMARY_3)
    _ok(pvc("commit", "-m", "Bullet summary", "--date", "2024-01-03T10:00:00+00:00"))
    _ok(pvc("tag", "v1"))
    _write(repo, "prompts/system.md", SYSTEM_4)
    _ok(pvc("commit", "-m", "One paragraph [draft]", "--date", "2024-01-04T10:00:00+00:00"))
    return repo


def _ids(root: Path) -> list[str]:
    r = Repo.open(root)
    try:
        return [c.id for c in r.log()]
    finally:
        r.close()


async def settle(pilot) -> None:
    """Wait until no worker runs and the messages they caused have been handled."""
    app = pilot.app
    # pilot.pause() waits for the CPU to go idle (20 ms at least); waiting for the
    # message queues is enough here and keeps the suite fast
    wait = getattr(pilot, "_wait_for_screen", None) or pilot.pause
    quiet = 0
    for _ in range(200):
        try:
            await app.workers.wait_for_complete()
        except WorkerCancelled:  # an exclusive worker replaced by a newer one: go on
            pass
        await wait()
        busy = any(w.is_running for w in app.workers)
        quiet = 0 if busy else quiet + 1
        if quiet >= 2:
            return
    raise AssertionError("the app never settled")


def drive(app: PvcApp, script, size=SIZE, toasts=False):
    """Run SCRIPT(pilot, app, notes) against APP; NOTES collects notifications (shown on
    screen only with TOASTS)."""
    notes: list[tuple[str, str, str]] = []
    notify = app.notify

    def capture(message, *, title="", severity="information", **kw):
        notes.append((severity, title, str(message)))
        return notify(message, title=title, severity=severity, **kw)

    app.notify = capture  # type: ignore[method-assign]

    async def main():
        async with app.run_test(size=size, notifications=toasts) as pilot:
            await settle(pilot)
            await script(pilot, app, notes)

    asyncio.run(main())
    return notes


async def press(pilot, *keys: str) -> None:
    await pilot.press(*keys)
    await settle(pilot)


async def goto_row(pilot, row: int) -> None:
    """Put the log cursor on ROW (for tests whose subject is not the j/k keys)."""
    pilot.app.log_pane.table.focus()
    pilot.app.log_pane.table.move_cursor(row=row)
    await settle(pilot)


async def prompt(pilot, key: str, text: str) -> None:
    """Open the filter (/) or go-to (g) prompt, type TEXT, press enter."""
    await press(pilot, key)
    assert isinstance(pilot.app.screen, PromptScreen)
    pilot.app.screen.query_one(Input).value = text
    await press(pilot, "enter")


# -- walking the log ------------------------------------------------------------------
def test_log_shows_commits_newest_first_with_id_date_author_message(history):
    ids = _ids(history)

    async def script(pilot, app, notes):
        log = app.log_pane
        assert [c.id for c in log.commits] == ids
        assert log.row_count == 4
        row = [cell.plain for cell in log.table.get_row_at(0)]
        assert row[1].strip() == ids[0][:8]
        assert row[2].strip() == "01-04 10:00"  # within a year of PVC_DATE: with the time
        assert row[3].strip() == "Test User"
        assert row[4].strip() == "(main) One paragraph [draft]"  # brackets stay text
        assert log.table.get_row_at(2)[3].plain.strip() == "Alan Turing"
        assert "(feature)" in log.table.get_row_at(2)[4].plain
        assert "(v1)" in log.table.get_row_at(1)[4].plain
        assert "3 commits" not in str(log.border_subtitle) and "4 commits" in str(log.border_subtitle)
        # the newest commit is open: its file and its diff
        assert app.files_pane.commit == ids[0]
        assert [c.path for c in app.files_pane.changes] == ["prompts/system.md"]
        assert app.viewer.shown_key[:2] == (ids[0], "prompts/system.md")
        assert "+Answer in one paragraph." in app.viewer.text
        assert "-Answer briefly." in app.viewer.text

    drive(make_app(str(history)), script)


def test_walk_the_log_with_j_k_and_arrows(history):
    ids = _ids(history)

    async def script(pilot, app, notes):
        await press(pilot, "j")
        assert app.files_pane.commit == ids[1]
        assert app.viewer.shown_key[:2] == (ids[1], "prompts/summary.md")
        assert "+Summarise the text in three bullet points." in app.viewer.text
        await press(pilot, "down", "down")
        assert app.files_pane.commit == ids[3]
        # the root commit adds both files
        assert sorted((c.status, c.path, c.insertions, c.deletions)
                      for c in app.files_pane.changes) == [
            ("A", "prompts/summary.md", 1, 0), ("A", "prompts/system.md", 2, 0)]
        await press(pilot, "k")
        assert app.files_pane.commit == ids[2]
        await press(pilot, "up", "up")
        assert app.files_pane.commit == ids[0]

    drive(make_app(str(history)), script)


def test_enter_and_tab_move_between_panes_and_files_open_their_diff(history):
    ids = _ids(history)

    async def script(pilot, app, notes):
        await goto_row(pilot, 3)  # the root commit: two files
        await press(pilot, "enter")
        assert app.focused is app.files_pane.list
        first = app.viewer.shown_key[1]
        await press(pilot, "j")
        second = app.viewer.shown_key[1]
        assert {first, second} == {"prompts/summary.md", "prompts/system.md"}
        assert app.viewer.shown_key[0] == ids[3]
        await press(pilot, "enter")
        assert app.focused is app.viewer
        await press(pilot, "tab")
        assert app.focused is app.refs_pane.list  # tab wraps around to the first pane
        await press(pilot, "tab")
        assert app.focused is app.log_pane.table
        await press(pilot, "b")
        assert app.focused is app.refs_pane.list

    drive(make_app(str(history)), script)


def test_walking_the_log_keeps_the_selected_file(history):
    async def script(pilot, app, notes):
        await goto_row(pilot, 3)  # the root commit
        await press(pilot, "enter")  # to the files pane
        app.files_pane.list.highlighted = 1  # prompts/system.md
        await settle(pilot)
        assert app.viewer.shown_key[1] == "prompts/system.md"
        app.log_pane.table.focus()
        await press(pilot, "k")  # c2 changed system.md too
        assert app.viewer.shown_key[1] == "prompts/system.md"

    drive(make_app(str(history)), script)


def test_mouse_click_selects_a_commit(history):
    ids = _ids(history)

    async def script(pilot, app, notes):
        table = app.log_pane.table
        await pilot.click(table, offset=(12, 3))  # header row 0, commits from row 1
        await settle(pilot)
        assert app.files_pane.commit == ids[2]

    drive(make_app(str(history)), script)


# -- diff, content, side by side ------------------------------------------------------
def test_d_toggles_content_and_diff(history):
    async def script(pilot, app, notes):
        v = app.viewer
        assert v.mode == "diff"
        await press(pilot, "d")
        assert v.mode == "content"
        assert v.text == SYSTEM_4
        assert str(v.border_title).startswith("Content · prompts/system.md@")
        await press(pilot, "d")
        assert v.mode == "diff" and v.text.startswith("diff --git")

    drive(make_app(str(history)), script)


def test_s_toggles_side_by_side(history):
    async def script(pilot, app, notes):
        v = app.viewer
        await press(pilot, "s")
        assert v.side_by_side
        assert "side by side" in str(v.border_title)
        assert "Answer briefly. | Answer in one paragraph." in v.text.splitlines()
        await press(pilot, "d")  # content, then s goes back to a side-by-side diff
        assert v.mode == "content"
        await press(pilot, "s")
        assert v.mode == "diff" and v.side_by_side
        await press(pilot, "s")
        assert not v.side_by_side and v.text.startswith("diff --git")

    drive(make_app(str(history)), script)


def test_deleted_and_renamed_files(history, pvc):
    _ok(pvc("mv", "prompts/summary.md", "prompts/short.md"))
    _ok(pvc("commit", "-m", "Rename summary", "--date", "2024-01-05T10:00:00+00:00"))
    _ok(pvc("rm", "prompts/system.md"))
    _ok(pvc("commit", "-m", "Drop system", "--date", "2024-01-06T10:00:00+00:00"))

    async def script(pilot, app, notes):
        (change,) = app.files_pane.changes
        assert (change.status, change.path) == ("D", "prompts/system.md")
        assert "-Cite sources." in app.viewer.text
        await press(pilot, "d")
        assert app.viewer.text == SYSTEM_4  # a deleted file shows its last content
        await press(pilot, "d", "j")
        (change,) = app.files_pane.changes
        assert (change.status, change.old_path, change.path) == (
            "R", "prompts/summary.md", "prompts/short.md")
        label = app.files_pane.list.get_option_at_index(0).prompt.plain
        assert label == " R short.md ← summary.md prompts"  # no room left for +0 -0

    drive(make_app(str(history)), script, size=(140, 30))


# -- compare two versions --------------------------------------------------------------
def test_mark_one_version_and_compare_with_another(history):
    ids = _ids(history)

    async def script(pilot, app, notes):
        await goto_row(pilot, 3)  # the root commit
        await press(pilot, "enter")  # to the files pane
        app.files_pane.list.highlighted = 1
        await settle(pilot)
        assert app.files_pane.current.path == "prompts/system.md"
        await press(pilot, "m")
        assert app.mark.label == f"prompts/system.md@{ids[3][:8]}"
        assert "★ prompts/system.md@" in app.status_bar.plain
        assert app.files_pane.list.get_option_at_index(1).prompt.plain.startswith("★")
        app.log_pane.table.focus()
        await goto_row(pilot, 0)  # the newest commit, which changed system.md
        v = app.viewer
        assert v.doc.compare == app.mark
        assert str(v.border_title) == f"Compare · prompts/system.md@{ids[3][:8]} → @{ids[0][:8]}"
        assert "-You are a helpful assistant." in v.text
        assert "+You are a helpful, precise assistant." in v.text
        assert "+Answer in one paragraph." in v.text
        await press(pilot, "s")  # comparisons have a side-by-side view too
        assert "Answer briefly. | Answer in one paragraph." in v.text.splitlines()
        await press(pilot, "s", "escape")
        assert app.mark is None and v.doc.compare is None
        assert "★" not in app.status_bar.plain
        assert "-Answer briefly." in v.text  # back to the diff against the parent

    drive(make_app(str(history)), script)


def test_m_on_the_marked_version_clears_the_mark(history):
    async def script(pilot, app, notes):
        await press(pilot, "m")
        assert app.mark is not None
        assert notes[-1][1] == "Marked"
        await press(pilot, "m")
        assert app.mark is None

    drive(make_app(str(history)), script)


def test_compare_identical_versions_says_so(history, pvc):
    _write(history, "prompts/system.md", SYSTEM_1)
    _ok(pvc("commit", "-m", "Back to the first system prompt", "--date",
            "2024-01-05T10:00:00+00:00"))
    ids = _ids(history)

    async def script(pilot, app, notes):
        await press(pilot, "m")  # newest: system.md == SYSTEM_1
        await goto_row(pilot, 4)  # the root commit
        await press(pilot, "enter")
        app.files_pane.list.highlighted = 1
        await settle(pilot)
        assert app.viewer.doc.compare.commit == ids[0]
        assert app.viewer.text == "the two versions are identical"

    drive(make_app(str(history)), script)


# -- filters ----------------------------------------------------------------------------
def test_filter_by_path(history):
    ids = _ids(history)

    async def script(pilot, app, notes):
        await prompt(pilot, "slash", "path:prompts/summary.md")
        assert [c.id for c in app.log_pane.commits] == [ids[1], ids[3]]
        assert "filter: path:prompts/summary.md" in app.status_bar.plain
        await prompt(pilot, "slash", "path:prompts")  # a folder: everything under it
        assert len(app.log_pane.commits) == 4
        await prompt(pilot, "slash", "path:*.md author:alan")
        assert [c.id for c in app.log_pane.commits] == [ids[2]]
        await prompt(pilot, "slash", "path:nothing/here.md")
        assert app.log_pane.commits == []
        assert app.viewer.text == "No commits match the filter."

    drive(make_app(str(history)), script)


def test_filter_by_author_and_message(history):
    ids = _ids(history)

    async def script(pilot, app, notes):
        await prompt(pilot, "slash", "author:alan")
        assert [c.id for c in app.log_pane.commits] == [ids[2]]
        assert app.files_pane.commit == ids[2]  # the first match opens
        await prompt(pilot, "slash", "BULLET")  # plain text: the message, any case
        assert [c.id for c in app.log_pane.commits] == [ids[1]]
        await prompt(pilot, "slash", 'message:"system prompt"')
        assert [c.id for c in app.log_pane.commits] == [ids[2]]
        await prompt(pilot, "slash", "")  # empty clears
        assert len(app.log_pane.commits) == 4
        assert "filter" not in app.status_bar.plain

    drive(make_app(str(history)), script)


def test_filter_prompt_escape_keeps_the_filter_and_typing_q_does_not_quit(history):
    async def script(pilot, app, notes):
        await prompt(pilot, "slash", "author:alan")
        await press(pilot, "slash")
        assert app.screen.query_one(Input).value == "author:alan"  # prefilled
        await press(pilot, "q", "d", "s")  # typed into the input, not app keys
        assert app.is_running and app.viewer.mode == "diff"
        assert app.screen.query_one(Input).value == "qds"  # the prefilled text was selected
        await press(pilot, "escape")
        assert not isinstance(app.screen, PromptScreen)
        assert len(app.log_pane.commits) == 1

    drive(make_app(str(history)), script)


def test_start_with_a_path_filters_the_log(history, monkeypatch):
    ids = _ids(history)
    monkeypatch.chdir(history / "prompts")

    async def script(pilot, app, notes):
        assert app.filter == LogFilter(paths=("prompts/summary.md",))
        assert [c.id for c in app.log_pane.commits] == [ids[1], ids[3]]

    drive(make_app(".", path="summary.md"), script)


def test_parse_filter():
    assert parse_filter("") == LogFilter()
    assert parse_filter("path:a.md p:b.md author:ada fix typo") == LogFilter(
        ("a.md", "b.md"), ("ada",), ("fix", "typo"))
    assert parse_filter('author:"Ada Lovelace" msg:"two words"') == LogFilter(
        (), ("Ada Lovelace",), ("two words",))
    assert parse_filter("unknown:thing") == LogFilter(messages=("unknown:thing",))
    f = parse_filter('author:"Ada Lovelace" path:x fix')
    assert parse_filter(f.describe()) == f
    assert f.matches("Ada Lovelace <ada@x>", "Fix the prompt")
    assert not f.matches("Alan <a@x>", "Fix the prompt")


# -- go to a revision ----------------------------------------------------------------
def test_goto_a_revision_in_the_log(history):
    ids = _ids(history)

    async def script(pilot, app, notes):
        await prompt(pilot, "g", "HEAD~2")
        assert app.log_pane.current.id == ids[2]
        assert app.files_pane.commit == ids[2]
        await prompt(pilot, "g", ids[3][:6])
        assert app.log_pane.current.id == ids[3]
        assert app.focused is app.log_pane.table

    drive(make_app(str(history)), script)


def test_goto_outside_the_shown_log_reroots_it(history):
    ids = _ids(history)

    async def script(pilot, app, notes):
        await prompt(pilot, "slash", "author:alan")
        await prompt(pilot, "g", "v1")  # not in the filtered log: the filter goes
        assert notes[-1][2] == "The filter was cleared to show this commit."
        assert app.filter.empty
        assert app.log_pane.log_query.rev == "refs/tags/v1"
        assert app.log_pane.current.id == ids[1]
        assert app.refs_pane.list.highlighted_option.id == "refs/tags/v1"

    drive(make_app(str(history)), script)


def test_goto_unknown_revision_notifies_and_keeps_going(history):
    async def script(pilot, app, notes):
        await prompt(pilot, "g", "nope")
        severity, title, message = notes[-1]
        assert (severity, title) == ("error", "Cannot go there")
        assert message.startswith("unknown revision 'nope'")
        assert app.is_running and app.log_pane.row_count == 4

    drive(make_app(str(history)), script)


def test_start_at_a_revision(history):
    ids = _ids(history)

    async def script(pilot, app, notes):
        assert app.log_pane.log_query.rev == "refs/heads/feature"
        assert [c.id for c in app.log_pane.commits] == ids[2:]
        assert app.refs_pane.list.highlighted_option.id == "refs/heads/feature"

    drive(make_app(str(history), rev="feature"), script)

    async def script2(pilot, app, notes):
        assert [c.id for c in app.log_pane.commits] == ids[1:]
        assert app.refs_pane.list.highlighted is None
        assert "HEAD~1" in str(app.log_pane.border_title)

    drive(make_app(str(history), rev="HEAD~1"), script2)

    async def script3(pilot, app, notes):
        assert notes[-1][0] == "error" and "unknown revision 'nope'" in notes[-1][2]
        assert app.log_pane.row_count == 0

    drive(make_app(str(history), rev="nope"), script3)


# -- branches -----------------------------------------------------------------------
def test_branches_pane_lists_branches_tags_and_marks_the_current(history):
    async def script(pilot, app, notes):
        lst = app.refs_pane.list
        prompts = [lst.get_option_at_index(i).prompt.plain for i in range(lst.option_count)]
        assert prompts == ["Branches (2)", "  feature", "● main", "Tags (1)", "  v1"]
        assert lst.highlighted_option.id == "refs/heads/main"

    drive(make_app(str(history)), script)


def test_remote_branches_are_listed_and_browsable(history):
    ids = _ids(history)
    r = Repo.open(history)
    r.move_ref("refs/remotes/origin/main", None, ids[1], "fetch: test")
    r.close()

    async def script(pilot, app, notes):
        lst = app.refs_pane.list
        prompts = [lst.get_option_at_index(i).prompt.plain for i in range(lst.option_count)]
        assert prompts[-2:] == ["Remote branches (1)", "  origin/main"]
        await press(pilot, "b", "j", "j")  # main -> v1 -> origin/main
        assert app.log_pane.log_query.rev == "refs/remotes/origin/main"
        assert [c.id for c in app.log_pane.commits] == ids[1:]
        # at 100 columns the names are condensed: "+1" stands for origin/main
        assert app.log_pane.table.get_row_at(0)[4].plain == " (v1 +1) Bullet summary"
        await press(pilot, "enter")
        assert notes[-1][:2] == ("warning", "Not a branch")

    drive(make_app(str(history)), script)


def test_merge_commits_are_marked_in_the_log(history, pvc):
    _ok(pvc("switch", "feature"))
    _write(history, "prompts/tone.md", "Be warm and concise.\n")
    _ok(pvc("add", "prompts/tone.md"))
    _ok(pvc("commit", "-m", "Add a tone prompt", "--date", "2024-01-05T10:00:00+00:00"))
    _ok(pvc("switch", "main"))
    _ok(pvc("merge", "feature", "-m", "Merge feature", "--date", "2024-01-06T10:00:00+00:00"))

    async def script(pilot, app, notes):
        top = app.log_pane.commits[0]
        assert len(top.parents) == 2
        row = app.log_pane.table.get_row_at(0)
        assert row[0].plain == MERGE_GLYPH
        assert row[4].plain == " (main) Merge feature"
        assert app.log_pane.table.get_row_at(1)[0].plain != MERGE_GLYPH
        # the merge's files are its changes against the first parent
        assert [(c.status, c.path) for c in app.files_pane.changes] == [("A", "prompts/tone.md")]
        assert "+Be warm and concise." in app.viewer.text

    drive(make_app(str(history)), script)


def test_highlighting_a_branch_shows_its_log(history):
    ids = _ids(history)

    async def script(pilot, app, notes):
        await press(pilot, "b", "k")  # main -> feature
        assert app.log_pane.log_query.rev == "refs/heads/feature"
        assert [c.id for c in app.log_pane.commits] == ids[2:]
        assert "Log · feature" in str(app.log_pane.border_title)

    drive(make_app(str(history)), script)


def test_switch_branch_with_enter(history):
    async def script(pilot, app, notes):
        await press(pilot, "b", "k", "enter")
        assert notes[-1] == ("information", "Switched", "Switched to branch 'feature'.")
        lst = app.refs_pane.list
        assert lst.get_option_at_index(1).prompt.plain == "● feature"
        assert "⎇ feature" in app.status_bar.plain
        await press(pilot, "enter")
        assert notes[-1][2] == "Already on 'feature'."

    drive(make_app(str(history)), script)
    r = Repo.open(history)
    assert r.current_branch() == "feature"
    r.close()
    assert (history / "prompts/system.md").read_text() == SYSTEM_2
    assert (history / "prompts/summary.md").read_text() == SUMMARY_1


def test_switch_refused_when_dirty(history):
    _write(history, "prompts/summary.md", "my local edit\n")

    async def script(pilot, app, notes):
        await press(pilot, "b", "k", "enter")
        severity, title, message = notes[-1]
        assert (severity, title) == ("error", "Cannot switch to 'feature'")
        assert message.startswith("your local changes to prompts/summary.md would be "
                                  "overwritten by switching to 'feature'")
        assert "pvc commit" in message  # the hint
        assert app.is_running
        assert app.refs_pane.list.get_option_at_index(2).prompt.plain == "● main"

    drive(make_app(str(history)), script)
    r = Repo.open(history)
    assert r.current_branch() == "main"
    r.close()
    assert (history / "prompts/summary.md").read_text() == "my local edit\n"


def test_enter_on_a_tag_does_not_switch(history):
    async def script(pilot, app, notes):
        await press(pilot, "b", "j", "enter")  # main -> (the Tags header is skipped) -> v1
        assert app.refs_pane.list.highlighted_option.id == "refs/tags/v1"
        assert notes[-1][:2] == ("warning", "Not a branch")

    drive(make_app(str(history)), script)


# -- copy, daemon, help, quit -----------------------------------------------------------
def test_copy_the_selected_version(history):
    async def script(pilot, app, notes):
        await press(pilot, "c")
        assert app.clipboard == SYSTEM_4
        assert notes[-1][1] == "Copied"
        await press(pilot, "j", "c")
        assert app.clipboard == SUMMARY_3

    drive(make_app(str(history)), script)


def test_daemon_state_in_the_status_bar(history):
    async def script(pilot, app, notes):
        assert app.status_bar.plain.endswith("│ no daemon")
        (history / ".pvc/daemon.json").write_text(json.dumps(
            {"state": "syncing", "last_sync": "2024-01-05T10:00:00+00:00", "pid": 1}))
        app._poll_daemon()
        await settle(pilot)
        assert app.status_bar.plain.endswith("│ daemon: syncing · last sync 2024-01-05 10:00:00")
        (history / ".pvc/daemon.json").write_text("{not json")
        app._poll_daemon()
        assert app.status_bar.plain.endswith("daemon: .pvc/daemon.json is not valid JSON")
        (history / ".pvc/daemon.json").unlink()
        app._poll_daemon()
        assert app.status_bar.plain.endswith("│ no daemon")

    drive(make_app(str(history)), script)


def test_help_screen_opens_and_closes(history):
    async def script(pilot, app, notes):
        await press(pilot, "question_mark")
        assert isinstance(app.screen, HelpScreen)
        await press(pilot, "escape")
        assert not isinstance(app.screen, HelpScreen)
        await press(pilot, "question_mark", "q")  # q closes the help, not the app
        assert app.is_running and not isinstance(app.screen, HelpScreen)

    drive(make_app(str(history)), script)


def test_q_quits_and_leaves_no_threads(history):
    async def script(pilot, app, notes):
        assert any(t.name.startswith("pvc-tui-") for t in threading.enumerate())
        await pilot.press("q")
        await pilot.pause()
        assert not app.is_running

    app = make_app(str(history))
    drive(app, script)
    assert app.return_code == 0
    assert not [t for t in threading.enumerate() if t.name.startswith("pvc-tui-")]


# -- sizes, themes, empty and large repositories --------------------------------------------
def test_readable_at_80x24_in_dark_and_light_themes(history):
    ids = _ids(history)

    async def script(pilot, app, notes):
        palettes = {}
        for theme in ("textual-dark", "textual-light"):
            app.theme = theme
            await settle(pilot)
            await pilot.pause()  # let layout and refresh run
            lines = await stable_lines(pilot)
            assert len(lines) == 24 and all(len(line) <= 80 for line in lines)
            text = "\n".join(lines)
            for needle in ("Branches", "● main", f"{ids[0][:8]} 01-04 10:00", "Files",
                           "system.md", "+Answer in one paragraph.", "⎇ main", "no daemon",
                           "q Quit", "/ Filter", "s Split"):
                assert needle in text, (theme, needle, text)
            palettes[theme] = Palette.from_variables(app.theme_variables)
        # diff colours follow the theme (darker greens and reds on a light background)
        assert palettes["textual-dark"].add != palettes["textual-light"].add
        assert palettes["textual-dark"].remove != palettes["textual-light"].remove

    drive(make_app(str(history)), script, size=(80, 24))


def screen_lines(app) -> list[str]:
    """The screen as plain text lines: what a terminal shows, without colours."""
    update = app.screen._compositor.render_update(full=True)
    return ["".join(strip.text for strip in line).rstrip() for line in update.strips]


async def stable_lines(pilot) -> list[str]:
    """The screen once it stops changing: some widgets (the log's DataTable) measure new
    rows and lay out again only when idle, after the workers and messages settle."""
    await settle(pilot)
    lines = screen_lines(pilot.app)
    for _ in range(100):
        await pilot.pause()
        again = screen_lines(pilot.app)
        if again == lines:
            return lines
        lines = again
    raise AssertionError("the screen never stopped changing")


SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"


def check_snapshot(name: str, lines: list[str]) -> None:
    """Compare the screen with tests/snapshots/NAME.txt; TUI_UPDATE_SNAPSHOTS=1 rewrites it
    (review the change like code)."""
    path = SNAPSHOTS / f"{name}.txt"
    text = "\n".join(lines) + "\n"
    if os.environ.get("TUI_UPDATE_SNAPSHOTS") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"no snapshot {path}; run with TUI_UPDATE_SNAPSHOTS=1 to write it"
    assert text == path.read_text(encoding="utf-8")


def test_snapshots(history):
    """Text snapshots of the screen (pinned dates and author, so ids are stable)."""

    async def script(pilot, app, notes):
        check_snapshot("main_80x24", await stable_lines(pilot))
        await press(pilot, "j", "s")
        check_snapshot("side_by_side_80x24", await stable_lines(pilot))
        await press(pilot, "question_mark")
        check_snapshot("help_80x24", await stable_lines(pilot))

    drive(make_app(str(history)), script, size=(80, 24))


def test_r_reloads_branches_and_log(history, pvc):
    async def script(pilot, app, notes):
        assert app.log_pane.row_count == 4
        _write(history, "prompts/summary.md", "New summary.\n")
        _ok(pvc("commit", "-m", "Made while the TUI was open", "--date",
                "2024-01-05T10:00:00+00:00"))
        _ok(pvc("branch", "later"))
        await press(pilot, "r")
        assert app.log_pane.row_count == 5
        assert app.log_pane.commits[0].summary == "Made while the TUI was open"
        lst = app.refs_pane.list
        assert "  later" in [lst.get_option_at_index(i).prompt.plain
                             for i in range(lst.option_count)]

    drive(make_app(str(history)), script)


def test_empty_repository(repo):
    async def script(pilot, app, notes):
        assert app.log_pane.row_count == 0
        assert app.viewer.text == "No commits yet."
        lst = app.refs_pane.list
        assert lst.get_option_at_index(1).prompt.plain == "● main (no commits yet)"
        await press(pilot, "m", "c", "d", "s", "j")
        assert app.is_running
        assert [n[0] for n in notes] == ["warning", "warning"]

    drive(make_app(str(repo)), script)


def test_not_a_repository(tmp_path):
    with pytest.raises(NotARepository) as info:
        make_app(str(tmp_path))
    assert "not a pvc repository" in info.value.message


def test_log_loads_more_as_the_cursor_nears_the_end(repo, pvc, monkeypatch):
    monkeypatch.setattr(LogPane, "PAGE", 5)
    monkeypatch.setattr(LogPane, "AHEAD", 2)
    for i in range(12):
        _write(repo, "p.md", f"version {i}\n")
        if i == 0:
            _ok(pvc("add", "p.md"))
        _ok(pvc("commit", "-m", f"v{i}", "--date", f"2024-01-{i + 1:02d}T00:00:00+00:00"))
    ids = _ids(repo)

    async def script(pilot, app, notes):
        log = app.log_pane
        assert log.row_count == 5 and not log.done
        await press(pilot, "j", "j")
        assert log.row_count == 5
        await press(pilot, "j")  # row 3: within AHEAD (2) of the last loaded row
        assert log.row_count == 10 and not log.done
        await goto_row(pilot, 7)
        assert log.row_count == 10
        await press(pilot, "j")  # row 8: near the end again
        assert log.row_count == 12 and log.done
        assert [c.id for c in log.commits] == ids
        assert "12 commits" in str(log.border_subtitle)

    drive(make_app(str(repo)), script)


# -- pure parts -------------------------------------------------------------------------
def test_merge_commits_are_marked():
    c = CommitInfo("a" * 64, "t" * 64, ("b" * 64, "c" * 64), "Ada <a@x>", "2024-01-01T00:00:00",
                   "Merge feature\n\nbody", 3)
    glyph, short, date, author, summary = commit_cells(c, ["main"])
    assert glyph.plain == MERGE_GLYPH
    assert summary.plain == " (main) Merge feature"
    single = CommitInfo("d" * 64, "t" * 64, ("b" * 64,), "Ada <a@x>", "2024-01-01T00:00:00", "x", 2)
    assert commit_cells(single)[0].plain != MERGE_GLYPH


def test_side_by_side_rows_pair_changes():
    diff = (b"--- a/x\n+++ b/x\n@@ -1,4 +1,4 @@\n a\n-b\n-c\n+B\n d\n+e\n"
            b"\\ No newline at end of file\n")
    rows = side_by_side_rows(diff)
    assert [(r.kind, r.old_no, r.old, r.new_no, r.new) for r in rows] == [
        ("hunk", None, "@@ -1,4 +1,4 @@", None, None),
        ("same", 1, "a", 1, "a"),
        ("change", 2, "b", 2, "B"),
        ("remove", 3, "c", None, None),
        ("same", 4, "d", 3, "d"),
        ("add", None, None, 4, "e"),
    ]
    # a removed line that looks like a header is still a removed line
    tricky = b"@@ -1,2 +1,1 @@\n--- a/not-a-header\n keep\n"
    assert [(r.kind, r.old) for r in side_by_side_rows(tricky)] == [
        ("hunk", "@@ -1,2 +1,1 @@"), ("remove", "-- a/not-a-header"), ("same", "keep")]


def test_log_walk_matches_repo_log_order_on_a_dag_with_merges():
    """The lazy walk yields exactly Repo.log's order (generation, date desc, id)."""
    rows = {}

    def add(cid, parents, gen, date):
        rows[cid] = SimpleNamespace(id=cid, tree_id="t", parents=tuple(parents), author="a",
                                    committed_at=date, message=cid, generation=gen)

    # root r; two branches x1-x2 and y1 (dates out of order); merge m; tip t
    add("r", [], 1, "2024-01-01")
    add("x1", ["r"], 2, "2024-01-03")
    add("y1", ["r"], 2, "2024-01-05")
    add("x2", ["x1"], 3, "2024-01-02")
    add("m", ["x2", "y1"], 4, "2024-01-06")
    add("s", ["r"], 2, "2024-01-03")  # same generation and date as x1: id breaks the tie
    add("t", ["m", "s"], 5, "2024-01-07")
    class FakeStore:  # the two reads the core walker makes
        def get_commit(self, cid):
            return rows.get(cid)

        def commits_in_generations(self, lo, hi):
            return [r for r in rows.values() if lo <= r.generation <= hi]

    from promptvc.history import Walker

    fake = SimpleNamespace(walker=lambda heads: Walker(FakeStore(), heads))
    expected = sorted(rows.values(), key=lambda r: (-r.generation, _neg(r.committed_at), r.id))
    walk = tui_data.LogWalk(fake, "t")
    got = walk.take(3) + walk.take(100)
    assert [c.id for c in got] == [r.id for r in expected]
    assert walk.done


def _neg(s: str) -> tuple:
    return tuple(-ord(ch) for ch in s)


def test_tui_holds_no_sql_and_imports_no_store():
    root = Path(__file__).resolve().parent.parent / "tui"
    for path in root.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "promptvc.store" not in text and "from ..store" not in text, path
        assert "libsql" not in text, path
        assert ".execute(" not in text, path
        assert not re.search(r"\b(SELECT\s.+\sFROM|INSERT\s+INTO|DELETE\s+FROM|UPDATE\s+\w+\s+SET)\b",
                             text), path


# -- a new user's repository at 80x24, 120x40 and 160x50 ----------------------------------
SIZES = [(80, 24), (120, 40), (160, 50)]
ONBOARD_1 = "Welcome the customer by name.\nAsk what they need.\n"
ONBOARD_2 = ("Welcome the customer by name and thank them for choosing us; keep the greeting "
             "to one short sentence so the answer comes quickly.\n"
             "Explain the refund policy in full: refunds are possible within 30 days of "
             "purchase, the item must be unused, and the customer pays the return shipping "
             "unless the item arrived damaged.\n")


@pytest.fixture
def walkthrough(repo, pvc) -> Path:
    """What a new user has after a few days: an old first commit, two commits on one day,
    two files named models.json, long prose lines, four names on the newest commit.

    c1 2023-03-01 Initial prompts -> c2 2024-05-20 09:15 (Alan; branch `experiment`)
    -> c3 2024-05-20 09:47 (main, branch `production`, tag v1, origin/main)."""
    _write(repo, "prompts/system.md", SYSTEM_1)
    _write(repo, "agents/onboarding.md", ONBOARD_1)
    _ok(pvc("add", "prompts", "agents"))
    _ok(pvc("commit", "-m", "Initial prompts", "--date", "2023-03-01T09:00:00+00:00"))
    _write(repo, "agents/sales/models.json", '{"model": "large", "temperature": 0.2}\n')
    _write(repo, "agents/support/models.json", '{"model": "small", "temperature": 0.0}\n')
    _ok(pvc("add", "agents"))
    _ok(pvc("commit", "-m", "Model settings for sales and support", "--author",
            "Alan Turing <alan@example.com>", "--date", "2024-05-20T09:15:00+00:00"))
    _ok(pvc("branch", "experiment"))
    _write(repo, "agents/onboarding.md", ONBOARD_2)
    _write(repo, "agents/sales/models.json", '{"model": "large", "temperature": 0.4}\n')
    _write(repo, "agents/support/models.json", '{"model": "small", "temperature": 0.1}\n')
    _ok(pvc("commit", "-m", "Onboarding: greet by name, explain refunds", "--date",
            "2024-05-20T09:47:00+00:00"))
    _ok(pvc("branch", "production"))
    _ok(pvc("tag", "v1"))
    r = Repo.open(repo)
    r.move_ref("refs/remotes/origin/main", None, r.head(), "fetch: test")
    r.close()
    return repo


def _labels(app) -> list[str]:
    lst = app.files_pane.list
    return [lst.get_option_at_index(i).prompt.plain for i in range(lst.option_count)]


@pytest.mark.parametrize("size, labels", [
    ((80, 24), [" M onboarding.md …ts", " M models.json …ales", " M models.json …port"]),
    # the counts would leave too little of the folder: the folder wins
    ((120, 40), [" M onboarding.md agents", " M models.json …/sales +1 -1",
                 " M models.json …upport +1 -1"]),
    ((160, 50), [" M onboarding.md agents          +2 -2",
                 " M models.json agents/sales      +1 -1",
                 " M models.json agents/support    +1 -1"]),
])
def test_files_pane_shows_the_file_name_first_and_elides_the_folder(walkthrough, size, labels):
    async def script(pilot, app, notes):
        assert [c.path for c in app.files_pane.changes] == [
            "agents/onboarding.md", "agents/sales/models.json", "agents/support/models.json"]
        assert _labels(app) == labels
        text = "\n".join(await stable_lines(pilot))
        for label in labels:
            assert label.rstrip() in text  # on screen whole: nothing cut by the pane

    drive(make_app(str(walkthrough)), script, size=size)


def test_change_label_cuts_counts_then_folder_then_the_name():
    def row(path, old=None, status="M"):
        return SimpleNamespace(path=path, old_path=old, status=status, insertions=12,
                               deletions=3)

    label = lambda r, w: files_pane.change_label(r, False, w).plain  # noqa: E731
    assert label(row("agents/support/models.json"), 0) == " M models.json agents/support +12 -3"
    assert label(row("agents/support/models.json"), 40) == (
        " M models.json agents/support     +12 -3")
    assert label(row("agents/support/models.json"), 30) == " M models.json …support +12 -3"
    assert label(row("agents/support/models.json"), 31) == " M models.json …/support +12 -3"
    assert label(row("agents/support/models.json"), 20) == " M models.json …port"
    assert label(row("agents/support/models.json"), 14) == " M models.json"
    assert label(row("README.md"), 20) == " M README.md  +12 -3"
    assert label(row("a/customer_onboarding_prompt.md"), 20) == " M customer…rompt.md"
    assert label(row("p/short.md", "p/summary.md", "R"), 0) == " R short.md ← summary.md p +12 -3"
    assert label(row("new/x.md", "old/x.md", "R"), 0) == " R x.md ← old/x.md new +12 -3"
    assert files_pane.change_label(row("a/b.md"), True, 0).plain.startswith("★M b.md")


@pytest.mark.parametrize("size, names, dates", [
    ((80, 24), ["(main +3)", "(experim…)"], ["05-20 09:47", "05-20 09:15", "2023-03-01"]),
    ((120, 40), ["(main +3)", "(experiment)"],
     ["2024-05-20 09:47", "2024-05-20 09:15", "2023-03-01 09:00"]),
    ((160, 50), ["(main, production, v1 +1)", "(experiment)"],
     ["2024-05-20 09:47", "2024-05-20 09:15", "2023-03-01 09:00"]),
])
def test_log_rows_keep_the_message_in_view_and_show_the_time(walkthrough, size, names, dates):
    async def script(pilot, app, notes):
        table = app.log_pane.table
        messages = ["Onboarding: greet by name, explain refunds",
                    "Model settings for sales and support"]
        for row, (name, message) in enumerate(zip(names, messages)):
            assert table.get_row_at(row)[4].plain == f" {name} {message}"
        assert [table.get_row_at(i)[2].plain.strip() for i in range(3)] == dates
        # on screen: the names, then at least the message's first word ("Onboarding:")
        lines = await stable_lines(pilot)
        assert any(f"{dates[0]} Test User   {names[0]} Onboarding:" in line for line in lines)

    drive(make_app(str(walkthrough)), script, size=size)


def test_decorations_list_head_first_and_condense_to_fit():
    info = tui_data.RefsInfo(branches=[("experiment", "c2"), ("main", "c3"), ("production", "c3")],
                             tags=[("v1", "c3")], remotes=[("origin/main", "c3")],
                             current="main", head="c3")
    names = info.names_at()
    assert names == {"c3": ["HEAD → main", "production", "v1", "origin/main"],
                     "c2": ["experiment"]}
    detached = tui_data.RefsInfo([("main", "c3")], [("main", "c3")], [], None, "c3")
    assert detached.names_at() == {"c3": ["HEAD", "main", "main"]}
    same_name = tui_data.RefsInfo([("main", "c3")], [("main", "c3")], [], "main", "c3")
    assert same_name.names_at() == {"c3": ["HEAD → main", "main"]}  # the tag stays
    from promptvc.tui.log_pane import decoration
    top = names["c3"]
    assert decoration(top) == "(HEAD → main, production, v1, origin/main)"
    assert decoration(top, 42) == "(HEAD → main, production, v1, origin/main)"
    assert decoration(top, 41) == "(main, production, v1, origin/main)"
    assert decoration(top, 34) == "(main, production, v1 +1)"
    assert decoration(top, 20) == "(main +3)"
    assert decoration(top, 8) == "(ma… +3)"
    assert decoration(["a-very-long-branch-name"], 10) == "(a-very-…)"


def test_dates_show_the_time_within_a_year_and_the_year_beyond():
    from promptvc.tui.log_pane import format_date, parse_date
    now = parse_date(NOW)
    assert format_date("2024-05-20T09:47:00+00:00", now, wide=False) == "05-20 09:47"
    assert format_date("2024-05-20T09:47:00+02:00", now, wide=False) == "05-20 09:47"  # own zone
    assert format_date("2023-06-03T12:00:00+00:00", now, wide=False) == "06-03 12:00"
    assert format_date("2023-06-01T11:00:00+00:00", now, wide=False) == "2023-06-01 "
    assert format_date("2025-07-01T00:00:00+00:00", now, wide=False) == "2025-07-01 "  # future
    assert format_date("2024-05-20T09:47:00", now, wide=False) == "05-20 09:47"  # no zone: UTC
    assert format_date("2024-05-20T09:47:00+00:00", None, wide=False) == "2024-05-20 "
    assert format_date("2023-03-01T09:00:00+00:00", now, wide=True) == "2023-03-01 09:00"
    assert format_date("yesterday", now, wide=False) == "yesterday"


def test_app_takes_now_from_pvc_date(history, monkeypatch):
    monkeypatch.setenv("PVC_DATE", "2025-01-03T12:00:00+00:00")  # c4 is now > a year old

    async def script(pilot, app, notes):
        dates = [app.log_pane.table.get_row_at(i)[2].plain.strip() for i in range(4)]
        assert dates == ["2024-01-04", "2024-01-03", "2024-01-02", "2024-01-01"]

    drive(make_app(str(history)), script, size=(80, 24))


def _pane_lines(lines: list[str], title: str) -> list[str]:
    """The inside of the pane whose top border holds TITLE, from the screen's LINES."""
    top = next(i for i, line in enumerate(lines) if title in line)
    left = lines[top].index(title)
    left = lines[top].rindex("╭", 0, left)
    right = lines[top].index("╮", left)
    out = []
    for line in lines[top + 1:]:
        if line[left:left + 1] == "╰":
            break
        out.append(line[left + 1:right].rstrip())
    return out


@pytest.mark.parametrize("size", SIZES)
def test_wrapped_diff_lines_keep_their_marker(walkthrough, size):
    async def script(pilot, app, notes):
        assert app.viewer.shown_key[1] == "agents/onboarding.md"
        app.viewer.scroll_to(y=5 if size[0] == 80 else 0, animate=False)  # 80x24: to "-Welcome"
        body = _pane_lines(await stable_lines(pilot), "Diff · agents/onboarding.md@")
        body = [line.rstrip("▁▂▃▄▅▆▇█▔ ") for line in body]  # the scrollbar
        start = next(i for i, line in enumerate(body) if line.startswith(" -Welcome"))
        changed = [line for line in body[start:] if line.strip()]
        # 2 removed + 2 added lines, the added ones longer than the pane: every screen line
        # of them starts with its marker
        assert len(changed) > 4
        assert [line[1] for line in changed[:2]] == ["-", "-"]
        assert {line[1] for line in changed[2:]} == {"+"}
        assert "".join(line[2:].strip() + " " for line in changed[2:]).split() == \
            ONBOARD_2.split()

    drive(make_app(str(walkthrough)), script, size=size)


def test_gutter_text_repeats_the_gutter_on_wrapped_lines():
    from rich.console import Console

    from promptvc.tui.render import render_content, render_unified
    console = Console(width=16, color_system=None)
    diff = b"@@ -1 +1 @@\n-old words here\n+new words that wrap\n context\n"

    def lines(renderable):
        return ["".join(s.text for s in line).rstrip()
                for line in console.render_lines(renderable, console.options)]

    assert lines(render_unified(diff)) == [
        "@@ -1 +1 @@", "-old words here", "+new words that", "+wrap", " context"]
    content = render_content(b"one two three four\nfive")
    assert lines(content) == ["1 one two three", "  four", "2 five",
                              "  (no newline at", "  end of file)"]
    assert content.plain == "one two three four\nfive"
    assert render_unified(diff).plain == diff.decode().rstrip("\n")


@pytest.mark.parametrize("size", SIZES)
def test_help_fits_and_notifications_wait_until_it_closes(walkthrough, size):
    from promptvc.tui.screens import KEYS, PANES

    async def script(pilot, app, notes):
        await press(pilot, "question_mark")
        await pilot.pause()
        box = app.screen.query_one("#help-box")
        assert box.max_scroll_y == 0  # nothing to scroll to: all of it is on screen
        text = "\n".join(await stable_lines(pilot))
        for key, does in KEYS + PANES:
            assert re.search(rf"│ {re.escape(key)} +{re.escape(does)} +│", text), (key, text)
        app._say("Reloaded in the background.", title="Note", timeout=600)
        await settle(pilot)
        await pilot.pause()
        assert "Reloaded in the background." not in "\n".join(await stable_lines(pilot))
        await press(pilot, "escape")
        await pilot.pause()
        assert "Reloaded in the background." in "\n".join(await stable_lines(pilot))

    drive(make_app(str(walkthrough)), script, size=size, toasts=True)


@pytest.mark.parametrize("size", SIZES)
def test_filter_dialog_hint_fits(walkthrough, size):
    from promptvc.tui.app import FILTER_HINT, GOTO_HINT

    async def script(pilot, app, notes):
        for key, hint in (("slash", FILTER_HINT), ("g", GOTO_HINT)):
            await press(pilot, key)
            await pilot.pause()
            text = "\n".join(await stable_lines(pilot))
            for line in hint.splitlines():
                assert f"│ {line}" in text, (line, text)
            await press(pilot, "escape")

    drive(make_app(str(walkthrough)), script, size=size)


def test_unbalanced_quote_in_a_filter_is_an_error_shown_in_the_prompt(walkthrough):
    async def script(pilot, app, notes):
        await prompt(pilot, "slash", 'author:"Bob')
        screen = app.screen
        assert isinstance(screen, PromptScreen)  # still open, to fix the text
        assert screen.problem == ('the filter has an unclosed quote: author:"Bob\n'
                                  'close it (author:"Ada Lovelace") or remove it')
        text = "\n".join(await stable_lines(pilot))
        assert '│ the filter has an unclosed quote: author:"Bob' in text
        assert app.log_pane.row_count == 3 and app.filter.empty  # the log is untouched
        check_snapshot("filter_error_80x24", await stable_lines(pilot))
        screen.query_one(Input).value = 'author:"Alan Turing"'
        await settle(pilot)
        assert screen.problem is None  # typing clears the message
        await press(pilot, "enter")
        assert not isinstance(app.screen, PromptScreen)
        assert app.filter == LogFilter(authors=("Alan Turing",))
        assert app.log_pane.row_count == 1

    drive(make_app(str(walkthrough)), script, size=(80, 24))


def test_parse_filter_refuses_an_unclosed_quote():
    from promptvc.errors import PvcError
    with pytest.raises(PvcError) as info:
        parse_filter('author:"Bob')
    assert info.value.message == 'the filter has an unclosed quote: author:"Bob'
    assert info.value.hint == 'close it (author:"Ada Lovelace") or remove it'
    with pytest.raises(PvcError) as info:
        parse_filter("fix\\")
    assert info.value.message == "the filter ends with a lone backslash: fix\\"


def test_refused_switch_shows_the_branch_checked_out(walkthrough):
    _write(walkthrough, "agents/sales/models.json", "local edit\n")
    ids = _ids(walkthrough)

    async def script(pilot, app, notes):
        await press(pilot, "b", "k", "enter")  # main -> experiment, enter: refused
        severity, title, message = notes[-1]
        assert (severity, title) == ("error", "Cannot switch to 'experiment'")
        assert str(app.log_pane.border_title) == "Log · main"
        assert app.log_pane.log_query.rev == "refs/heads/main"
        assert [c.id for c in app.log_pane.commits] == ids
        assert app.refs_pane.list.highlighted_option.id == "refs/heads/main"
        assert app.status_bar.plain.startswith("⎇ main  log: main")
        app.clear_notifications()
        check_snapshot("refused_switch_80x24", await stable_lines(pilot))

    drive(make_app(str(walkthrough)), script, size=(80, 24))


@pytest.mark.parametrize("size", SIZES)
def test_walkthrough_snapshots(walkthrough, size):
    """The screens a new user sees first, at three terminal sizes."""
    name = f"{size[0]}x{size[1]}"

    async def script(pilot, app, notes):
        check_snapshot(f"walkthrough_{name}", await stable_lines(pilot))
        await press(pilot, "question_mark")
        check_snapshot(f"walkthrough_help_{name}", await stable_lines(pilot))
        await press(pilot, "escape", "slash")
        check_snapshot(f"walkthrough_filter_{name}", await stable_lines(pilot))

    drive(make_app(str(walkthrough)), script, size=size)


def test_resizing_relays_the_log_out_and_keeps_the_cursor(walkthrough):
    ids = _ids(walkthrough)

    async def script(pilot, app, notes):
        await press(pilot, "j")  # the cursor on c2
        table = app.log_pane.table
        assert table.get_row_at(0)[2].plain == " 05-20 09:47"
        assert table.get_row_at(0)[4].plain.startswith(" (main +3) ")
        await pilot.resize_terminal(160, 50)
        await settle(pilot)
        assert table.get_row_at(0)[2].plain == " 2024-05-20 09:47"
        assert table.get_row_at(0)[4].plain.startswith(" (main, production, v1 +1) ")
        assert app.log_pane.current.id == ids[1] and app.files_pane.commit == ids[1]
        lines = await stable_lines(pilot)
        assert any("2024-05-20 09:47 Test User   (main, production, v1 +1) Onboarding: greet"
                   in line for line in lines)
        await pilot.resize_terminal(80, 24)
        await settle(pilot)
        assert table.get_row_at(2)[2].plain == " 2023-03-01 "
        assert app.log_pane.current.id == ids[1]

    drive(make_app(str(walkthrough)), script, size=(80, 24))
