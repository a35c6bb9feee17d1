"""Top left: branches, tags and remote branches."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option, OptionDoesNotExist

from .data import HEADS, REMOTES, TAGS, RefsInfo


class RefList(OptionList):
    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
    ]


class RefsPane(Vertical):
    """Lists refs; highlighting one shows its log, enter on a branch switches to it."""

    class RefHighlighted(Message):
        def __init__(self, ref: str) -> None:
            super().__init__()
            self.ref = ref  # a full ref name: refs/heads/main, refs/tags/v1, ...

    class SwitchRequested(Message):
        def __init__(self, ref: str) -> None:
            super().__init__()
            self.ref = ref

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.info: RefsInfo | None = None

    def compose(self) -> ComposeResult:
        yield RefList(id="refs-list")

    @property
    def list(self) -> RefList:
        return self.query_one(RefList)

    def show_refs(self, info: RefsInfo, select: str | None) -> None:
        """Fill the list; highlight the ref named by `select` (a full ref name) when it is there."""
        self.info = info
        lst = self.list
        options: list[Option | None] = []

        def header(label: str, count: int) -> Option:
            return Option(Text(f"{label} ({count})", style="bold"), disabled=True)

        options.append(header("Branches", len(info.branches)))
        branches = list(info.branches)
        if info.current is not None and all(name != info.current for name, _ in branches):
            branches.append((info.current, ""))  # the current branch has no commits yet
            branches.sort()
        for name, target in branches:
            current = name == info.current
            label = Text("● " if current else "  ")
            label.append(name, style="bold" if current else "")
            if not target:
                label.append(" (no commits yet)", style="dim")
            options.append(Option(label, id=HEADS + name))
        if info.current is None:
            short = (info.head or "")[:8]
            options.append(Option(Text(f"● HEAD (detached at {short})", style="bold"), id="HEAD"))
        if info.tags:
            options.append(header("Tags", len(info.tags)))
            options += [Option(Text("  " + name), id=TAGS + name) for name, _ in info.tags]
        if info.remotes:
            options.append(header("Remote branches", len(info.remotes)))
            options += [Option(Text("  " + name), id=REMOTES + name) for name, _ in info.remotes]
        lst.clear_options()
        lst.add_options(options)
        if select is not None:
            try:
                lst.highlighted = lst.get_option_index(select)
            except OptionDoesNotExist:
                lst.highlighted = None

    def select(self, ref: str) -> bool:
        try:
            self.list.highlighted = self.list.get_option_index(ref)
        except OptionDoesNotExist:
            return False
        return True

    @on(OptionList.OptionHighlighted, "#refs-list")
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        if event.option.id:
            self.post_message(self.RefHighlighted(event.option.id))

    @on(OptionList.OptionSelected, "#refs-list")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id:
            self.post_message(self.SwitchRequested(event.option.id))
