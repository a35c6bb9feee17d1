"""Bottom left: the files the selected commit changed, with status and +/- counts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

if TYPE_CHECKING:
    from promptvc.repo import ChangeRow

STATUS_STYLE = {"A": "bold $text-success", "M": "bold $text-warning", "D": "bold $text-error",
                "R": "bold $text-primary"}


def shorten_path(path: str, width: int) -> str:
    """PATH cut from the left to WIDTH cells, keeping whole trailing components when they
    fit: 'prompts/team/a.md' -> '…/team/a.md' -> '…/a.md' -> '…a.md'."""
    if width <= 0 or len(path) <= width:
        return path
    parts = path.split("/")
    tail = parts[-1]
    for part in reversed(parts[:-1]):
        if len(f"…/{part}/{tail}") > width:
            break
        tail = f"{part}/{tail}"
    if len(parts) > 1 and len("…/" + tail) <= width:
        return "…/" + tail
    return "…" + path[len(path) - width + 1:] if width > 1 else "…"


def elide_middle(text: str, width: int) -> str:
    """TEXT cut in the middle to WIDTH cells, keeping its end (a file's extension):
    'customer_onboarding.md' -> 'custome…rding.md'."""
    if len(text) <= width:
        return text
    if width <= 1:
        return "…"[:max(width, 0)]
    keep = width - 1
    tail = (keep + 1) // 2
    return text[: keep - tail] + "…" + text[len(text) - tail:]


def change_label(change: "ChangeRow", marked: bool = False, width: int = 0) -> Content:
    """'★M system.md prompts    +3 -1': the file name first, so files can be told apart
    in a narrow pane, then its folder (muted), then the +/- line counts at the right.

    When WIDTH is short, the counts go first, then the folder is cut from the left
    ('…/support', '…port'); the name is cut in the middle only when it alone does not fit.
    A rename shows '← old' after the new name (the old name, or its path when the folder
    changed). WIDTH 0 means no limit."""
    folder, _, name = change.path.rpartition("/")
    counts = f"+{change.insertions} -{change.deletions}"
    old = ""
    if change.old_path:
        old_folder, _, old_name = change.old_path.rpartition("/")
        old = old_name if old_folder == folder else change.old_path
    parts: list = [("★" if marked else " ", "bold $text-accent"),
                   (change.status, STATUS_STYLE.get(change.status, "bold")), " "]

    def tail(text_folder: str, with_counts: bool, pad: int = 0) -> list:
        out: list = []
        if text_folder:
            out.append((" " + text_folder, "$text-muted"))
        if with_counts:
            out += [" " * (1 + pad), (f"+{change.insertions}", "$text-success"), " ",
                    (f"-{change.deletions}", "$text-error")]
        return out

    if not width:
        renamed = [(" ← " + old, "$text-muted")] if old else []
        return Content.assemble(*parts, name, *renamed, *tail(folder, True))
    room = width - 3
    shown = elide_middle(name, room)
    left = room - len(shown)
    old_part: list = []
    if old and left >= 4:
        old_text = " ← " + (elide_middle(old, left - 3) if "/" not in old
                            else shorten_path(old, left - 3))
        old_part = [(old_text, "$text-muted")]
        left -= len(old_text)
    need = len(counts) + 1
    if left >= len(folder) + (1 if folder else 0) + need:  # everything fits
        pad = left - len(folder) - (1 if folder else 0) - need
        return Content.assemble(*parts, shown, *old_part, *tail(folder, True, pad))
    # the counts, with the folder cut to its end, when enough of the folder stays
    room_beside = left - need - 1
    if folder and room_beside >= min(len(folder), 7):
        cut = shorten_path(folder, room_beside)
        pad = room_beside - len(cut)
        return Content.assemble(*parts, shown, *old_part, *tail(cut, True, pad))
    cut = shorten_path(folder, left - 1) if folder and left >= 3 else ""
    return Content.assemble(*parts, shown, *old_part, *tail(cut, False))


class FileList(OptionList):
    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
    ]


class FilesPane(Vertical):
    class FileHighlighted(Message):
        def __init__(self, commit: str, change: "ChangeRow") -> None:
            super().__init__()
            self.commit, self.change = commit, change

    class FileChosen(Message):
        """Enter on a file."""

        def __init__(self, commit: str, change: "ChangeRow") -> None:
            super().__init__()
            self.commit, self.change = commit, change

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.commit: str | None = None
        self.changes: list = []
        self._marked: tuple[str, str] | None = None

    def compose(self) -> ComposeResult:
        yield FileList(id="files-list")

    @property
    def list(self) -> FileList:
        return self.query_one(FileList)

    @property
    def current(self) -> "ChangeRow | None":
        i = self.list.highlighted
        return self.changes[i] if i is not None and 0 <= i < len(self.changes) else None

    def show_changes(self, commit: str, changes: Iterable[ChangeRow],
                     select_path: str | None = None) -> None:
        self.commit, self.changes = commit, list(changes)
        lst = self.list
        lst.clear_options()
        lst.add_options([Option(self._label(c), id=c.path) for c in self.changes])
        self.border_subtitle = f"{len(self.changes)} file{'s' if len(self.changes) != 1 else ''}"
        if self.changes:
            index = next((i for i, c in enumerate(self.changes) if c.path == select_path), 0)
            lst.highlighted = index

    def set_mark(self, mark: tuple[str, str] | None) -> None:
        """Show a star on the marked (commit, path), when it is in this list."""
        self._marked = mark
        for i, c in enumerate(self.changes):
            self.list.replace_option_prompt_at_index(i, self._label(c))

    def _label(self, c: "ChangeRow") -> Content:
        width = self.list.scrollable_content_region.width
        return change_label(c, self._marked == (self.commit, c.path), width)

    def on_resize(self) -> None:
        self.set_mark(self._marked)  # relabel for the new width

    @on(OptionList.OptionHighlighted, "#files-list")
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        i = event.option_index
        if self.commit and 0 <= i < len(self.changes):
            self.post_message(self.FileHighlighted(self.commit, self.changes[i]))

    @on(OptionList.OptionSelected, "#files-list")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        i = event.option_index
        if self.commit and 0 <= i < len(self.changes):
            self.post_message(self.FileChosen(self.commit, self.changes[i]))
