"""Bottom right: the selected file's diff (unified or side by side) or its content."""

from __future__ import annotations

from rich.console import RenderableType
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.content import Content
from textual.reactive import reactive
from textual.widgets import Static

from .data import Doc
from .render import Palette, render_content, render_side_by_side, render_unified, side_by_side_rows


class ViewerPane(VerticalScroll):
    """Shows a Doc. ``mode`` is "diff" or "content"; ``side_by_side`` applies to diffs."""

    BINDINGS = [
        Binding("j", "scroll_down", "Down", show=False),
        Binding("k", "scroll_up", "Up", show=False),
    ]

    mode: reactive[str] = reactive("diff", init=False)
    side_by_side: reactive[bool] = reactive(False, init=False)

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.doc: Doc | None = None
        self.shown_key: tuple | None = None  # the key of the Doc on screen
        self.text = ""  # plain text of what is on screen (for tests and copying)
        self._message = "Select a commit to see its files."

    def compose(self) -> ComposeResult:
        yield Static(id="doc")

    def on_mount(self) -> None:
        self.watch(self.app, "theme", lambda _: self._refresh_doc(), init=False)
        self._refresh_doc()

    # -- API ------------------------------------------------------------------------
    def show(self, doc: Doc) -> None:
        self.doc = doc
        self._refresh_doc()
        self.scroll_home(animate=False)

    def show_message(self, message: str) -> None:
        self.doc = None
        self._message = message
        self._refresh_doc()

    def watch_mode(self) -> None:
        self._refresh_doc()

    def watch_side_by_side(self) -> None:
        self._refresh_doc()

    # -- rendering ------------------------------------------------------------------
    def _palette(self) -> Palette:
        return Palette.from_variables(self.app.theme_variables)

    def _refresh_doc(self) -> None:
        static = self.query_one("#doc", Static)
        doc = self.doc
        if doc is None:
            self.border_title = "Diff"
            self.border_subtitle = ""
            self.shown_key = None
            self.text = self._message
            static.update(Text(self._message, style="dim"))
            return
        pal = self._palette()
        renderable: RenderableType
        if self.mode == "content":
            kind = "Content"
            if doc.content is None:
                renderable = Text("(this file does not exist in this version)", style="dim")
            else:
                renderable = render_content(doc.content, pal)
            self.text = doc.content.decode("utf-8", "replace") if doc.content is not None else ""
        else:
            kind = "Compare" if doc.compare is not None else "Diff"
            if not doc.diff:
                renderable = Text(doc.note or "(no changes)", style="dim")
                self.text = doc.note
            elif self.side_by_side:
                kind += " side by side"
                renderable = render_side_by_side(doc.diff, pal)
                self.text = "\n".join(
                    f"{r.old or ''} | {r.new or ''}" for r in side_by_side_rows(doc.diff)
                )
            else:
                unified = render_unified(doc.diff, pal)
                renderable = unified
                self.text = unified.plain
        self.border_title = Content(f"{kind} · {doc.title}")  # not markup: paths may hold [ ]
        self.border_subtitle = Content(doc.note if doc.note and doc.diff else "")
        static.update(renderable)
        self.shown_key = doc.key
