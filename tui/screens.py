"""Modal screens: the help screen and the one-line prompts (filter, go to revision)."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

KEYS: list[tuple[str, str]] = [
    ("j k ↑ ↓", "move in the focused pane (mouse: click, wheel)"),
    ("tab shift+tab", "next / previous pane"),
    ("enter", "log: go to the commit's files · files: go to the diff · "
              "branches: switch to the branch"),
    ("b", "focus the branches pane"),
    ("/", "filter the log: path:P author:A, plain words search the message"),
    ("g", "go to a revision: id (4+ chars), branch, tag, HEAD~3"),
    ("d", "toggle the selected file's diff / content"),
    ("s", "toggle a side-by-side diff"),
    ("m", "mark this file version; select another one to compare them "
          "(m on the marked one or esc clears)"),
    ("c", "copy this version's content to the clipboard"),
    ("r", "reload branches and log"),
    ("?", "this help"),
    ("q", "quit"),
]

PANES = (
    "Branches: ● the current branch, then tags and remote branches; highlighting one shows "
    "its log.  Log: ◆ marks a merge commit; (names) are branches and tags.  Files: status "
    "(A M D R), +added -deleted lines, path.  Diff: the selected file against the commit's "
    "first parent, or against the marked version.  Status bar: branch, log, filter, mark "
    "and the sync daemon (from .pvc/daemon.json)."
)


def help_renderable() -> Group:
    keys = Table.grid(padding=(0, 2))
    keys.add_column(style="bold", no_wrap=True)
    keys.add_column()
    for key, does in KEYS:
        keys.add_row(key, does)
    return Group(Text("pvc tui: keys", style="bold"), Text(""), keys, Text(""),
                 Text(PANES, style="dim"))


class HelpScreen(ModalScreen[None]):
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
        self.query_one("#help-box").focus()

    def action_scroll_help(self, lines: int) -> None:
        self.query_one("#help-box").scroll_relative(y=lines, animate=False)


class PromptScreen(ModalScreen[str | None]):
    """Ask for one line; dismiss with the text (enter) or None (escape)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, hint: str, value: str = "", placeholder: str = "") -> None:
        super().__init__()
        self._title, self._hint, self._value, self._placeholder = title, hint, value, placeholder

    def compose(self) -> ComposeResult:
        with Vertical(id="prompt-box") as box:
            box.border_title = self._title
            yield Input(value=self._value, placeholder=self._placeholder, id="prompt-input")
            yield Label(self._hint, id="prompt-hint")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)
