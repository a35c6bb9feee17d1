"""Modal screens: the help screen and the one-line prompts (filter, go to revision)."""

from __future__ import annotations

from typing import Callable

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

KEYS: list[tuple[str, str]] = [
    ("j k ↑ ↓", "move in the focused pane (mouse: click, wheel)"),
    ("tab shift+tab", "next / previous pane"),
    ("enter", "log → files → diff; on a branch: switch to it"),
    ("b", "focus the branches pane"),
    ("/", "filter the log: path:P author:A, other words: the message"),
    ("g", "go to a revision: id (4+ chars), branch, tag, HEAD~3"),
    ("d", "toggle the selected file's diff / content"),
    ("s", "toggle a side-by-side diff"),
    ("m", "mark this version, select another to compare (esc clears)"),
    ("c", "copy this version's content to the clipboard"),
    ("r", "reload branches and log"),
    ("?", "this help"),
    ("q", "quit"),
]

# one line each, so the whole help fits a terminal of 80x24
PANES: list[tuple[str, str]] = [
    ("Log", "◆ merge commit · (HEAD → main, v1) branches and tags on it"),
    ("Files", "status (A M D R) · name · folder · +added -deleted lines"),
    ("Diff", "against the commit's first parent, or the marked (★) one"),
    ("Status", "branch · log shown · filter · mark · sync daemon state"),
]


def help_renderable() -> Group:
    keys = Table.grid(padding=(0, 2))
    keys.add_column(style="bold", no_wrap=True)
    keys.add_column()
    for key, does in KEYS:
        keys.add_row(key, does)
    panes = Table.grid(padding=(0, 2))
    panes.add_column(style="bold", no_wrap=True, min_width=13)
    panes.add_column(style="dim")
    for pane, says in PANES:
        panes.add_row(pane, says)
    return Group(Text("pvc tui: keys", style="bold"), Text(""), keys, Text(""), panes)


class HelpScreen(ModalScreen[None]):
    """The keys and what the panes show. Notifications wait while it is open: its own
    toast rack is removed, so they show on the main screen when the help closes."""

    BINDINGS = [
        Binding("escape", "dismiss", "Close"),
        Binding("q", "dismiss", "Close", show=False),
        Binding("question_mark", "dismiss", "Close", show=False),
        Binding("j", "scroll_help(1)", show=False),
        Binding("k", "scroll_help(-1)", show=False),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box") as box:
            box.border_title = "Help"
            box.border_subtitle = "esc closes"
            yield Static(help_renderable(), id="help-text")

    def on_mount(self) -> None:
        for rack in self.query("ToastRack"):  # Textual's container of notifications
            rack.remove()
        self.query_one("#help-box").focus()

    def action_scroll_help(self, lines: int) -> None:
        self.query_one("#help-box").scroll_relative(y=lines, animate=False)


class PromptScreen(ModalScreen[str | None]):
    """Ask for one line; dismiss with the text (enter) or None (escape). CHECK, when
    given, returns what is wrong with the text (or None): the prompt then stays open and
    shows it in place of the hint until the text changes."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, hint: str, value: str = "", placeholder: str = "",
                 check: Callable[[str], str | None] | None = None) -> None:
        super().__init__()
        self._title, self._hint, self._value, self._placeholder = title, hint, value, placeholder
        self._check = check
        self.problem: str | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="prompt-box") as box:
            box.border_title = self._title
            yield Input(value=self._value, placeholder=self._placeholder, id="prompt-input")
            yield Label(Content(self._hint), id="prompt-hint")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        problem = self._check(event.value) if self._check else None
        if problem is None:
            self.dismiss(event.value)
            return
        self.problem = problem
        hint = self.query_one("#prompt-hint", Label)
        hint.update(Content(problem))  # not markup: it quotes what was typed
        hint.add_class("-error")

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        if self.problem is not None:
            self.problem = None
            hint = self.query_one("#prompt-hint", Label)
            hint.update(Content(self._hint))
            hint.remove_class("-error")

    def action_cancel(self) -> None:
        self.dismiss(None)
