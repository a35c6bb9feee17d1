"""Top right: the commit log, loaded a page at a time as the cursor or the scroll nears
its end, so a log of 100,000 commits opens as fast as one of 100."""

from __future__ import annotations

from typing import Awaitable, Callable

from rich.style import Style
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable

from promptvc.errors import PvcError
from promptvc.repo import CommitInfo

from .data import LogPage, LogQuery, Stale

Fetch = Callable[[LogQuery, int, int], Awaitable[LogPage]]

MERGE_GLYPH = "◆"
COMMIT_GLYPH = "●"


def author_name(author: str) -> str:
    """'Ada Lovelace <ada@example.com>' -> 'Ada Lovelace'."""
    name = author.split("<", 1)[0].strip()
    return name or author.strip("<> ")


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def commit_cells(c: CommitInfo, refs: list[str] | None = None,
                 colors: dict[str, str] | None = None) -> tuple[Text, Text, Text, Text, Text]:
    """The log row of one commit: glyph, short id, date, author, summary (+ ref names).
    A merge commit gets a diamond glyph and an italic summary. Cells are Rich Text (never
    markup: a message may contain [brackets]); COLORS are the app's theme variables."""
    colors = colors or {}
    merge = len(c.parents) > 1
    glyph = Text(MERGE_GLYPH if merge else COMMIT_GLYPH,
                 style=Style(color=_color(colors, "text-accent", "magenta"), bold=True) if merge else "")
    summary = Text(" ")
    if refs:
        summary.append("(" + ", ".join(refs) + ") ",
                       style=Style(color=_color(colors, "text-warning", "yellow"), bold=True))
    summary.append(c.summary, style="italic" if merge else "")
    return (glyph, Text(" " + c.short, style=Style(color=_color(colors, "text-primary", "blue"))),
            Text(" " + c.date[:10]), Text(" " + _clip(author_name(c.author), 12)), summary)


def _color(colors: dict[str, str], name: str, default: str) -> str:
    value = colors.get(name, "")
    return value if value.startswith("#") else default


class CommitTable(DataTable):
    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
    ]

    class NearEnd(Message):
        """The view or the cursor came close to the last loaded row."""

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if self.row_count and self.max_scroll_y - new_value < self.size.height:
            self.post_message(self.NearEnd())


class LogPane(Vertical):
    """Shows the commits of a LogQuery; asks FETCH for more as needed."""

    PAGE = 200  # rows added per load
    AHEAD = 50  # load more when the cursor is this close to the last row

    class CommitHighlighted(Message):
        def __init__(self, commit: CommitInfo) -> None:
            super().__init__()
            self.commit = commit

    class CommitChosen(Message):
        """Enter on a commit."""

        def __init__(self, commit: CommitInfo) -> None:
            super().__init__()
            self.commit = commit

    class Loaded(Message):
        def __init__(self, query: LogQuery, rows: int, done: bool) -> None:
            super().__init__()
            self.query, self.rows, self.done = query, rows, done

    class LoadFailed(Message):
        def __init__(self, query: LogQuery, error: PvcError) -> None:
            super().__init__()
            self.query, self.error = query, error

    def __init__(self, fetch: Fetch, **kwargs) -> None:
        super().__init__(**kwargs)
        self._fetch = fetch
        self.log_query: LogQuery | None = None
        self.commits: list[CommitInfo] = []
        self.done = False
        self.fetching = False
        self.decorations: dict[str, list[str]] = {}
        self._generation = 0
        self._select: str | None = None

    def compose(self) -> ComposeResult:
        yield CommitTable(id="log-table", cursor_type="row", zebra_stripes=False, cell_padding=0)

    def on_mount(self) -> None:
        t = self.table
        t.add_column(" ", key="glyph")
        t.add_column(" commit", key="id")
        t.add_column(" date", key="date")
        t.add_column(" author", key="author")
        t.add_column(" message", key="message")
        self.watch(self.app, "theme", lambda _: self._restyle(), init=False)

    def _restyle(self) -> None:
        """Recolour the rows that carry colour (merges, ref names) for a new theme."""
        colors = self.app.theme_variables
        t = self.table
        for c in self.commits:
            refs = self.decorations.get(c.id)
            if refs or len(c.parents) > 1:
                glyph, short, _, _, summary = commit_cells(c, refs, colors)
                t.update_cell(c.id, "glyph", glyph)
                t.update_cell(c.id, "message", summary)
            t.update_cell(c.id, "id", commit_cells(c, None, colors)[1])

    @property
    def table(self) -> CommitTable:
        return self.query_one(CommitTable)

    @property
    def row_count(self) -> int:
        return self.table.row_count

    def commit_at(self, row: int) -> CommitInfo:
        return self.commits[row]

    @property
    def current(self) -> CommitInfo | None:
        row = self.table.cursor_row
        return self.commits[row] if 0 <= row < len(self.commits) else None

    def row_of_cursor(self, cid: str) -> int | None:
        """The cursor row when it is on CID (the common case, found at once), else CID's row."""
        row = self.table.cursor_row
        if 0 <= row < len(self.commits) and self.commits[row].id == cid:
            return row
        return self.row_of(cid)

    def row_of(self, cid: str) -> int | None:
        for i, c in enumerate(self.commits):
            if c.id == cid:
                return i
        return None

    # -- loading --------------------------------------------------------------------
    def show_log(self, query: LogQuery, select: str | None = None) -> None:
        """Start over with QUERY; put the cursor on commit `select` once it is loaded."""
        self.log_query = query
        self.commits = []
        self.done = False
        self._select = select
        self._generation += 1
        self.table.clear()
        self.fetching = True
        self._load(query, 0, self._generation)

    def load_more(self) -> None:
        if self.log_query is None or self.done or self.fetching:
            return
        self.fetching = True
        self._load(self.log_query, len(self.commits), self._generation)

    @work(group="log-load", exclusive=True)
    async def _load(self, query: LogQuery, offset: int, generation: int) -> None:
        try:
            page = await self._fetch(query, offset, self.PAGE)
        except Stale:
            return
        except PvcError as exc:
            if generation == self._generation:
                self.fetching = False
                self.done = True
                self.post_message(self.LoadFailed(query, exc))
            return
        if generation != self._generation:
            return
        self._append(page)

    def _append(self, page: LogPage) -> None:
        first = not self.commits
        self.commits.extend(page.commits)
        colors = self.app.theme_variables
        add = self.table.add_row
        for c in page.commits:  # commits[i] is row i; the row key is the commit id
            add(*commit_cells(c, self.decorations.get(c.id), colors), key=c.id)
        self.done = page.done
        self.fetching = False
        if first and self.commits:
            row = self.row_of(self._select) if self._select else None
            self._select = None
            self.table.move_cursor(row=row or 0)
            # moving to where the cursor already is posts nothing: say it ourselves
            self.post_message(self.CommitHighlighted(self.commits[self.table.cursor_row]))
        self.post_message(self.Loaded(self.log_query, len(self.commits), self.done))

    # -- events ---------------------------------------------------------------------
    @on(DataTable.RowHighlighted, "#log-table")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        row = event.cursor_row
        if 0 <= row < len(self.commits):
            self.post_message(self.CommitHighlighted(self.commits[row]))
        if row >= len(self.commits) - self.AHEAD:
            self.load_more()

    @on(DataTable.RowSelected, "#log-table")
    def _selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if 0 <= event.cursor_row < len(self.commits):
            self.post_message(self.CommitChosen(self.commits[event.cursor_row]))

    @on(CommitTable.NearEnd)
    def _near_end(self, event: CommitTable.NearEnd) -> None:
        event.stop()
        self.load_more()
