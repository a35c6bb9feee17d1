"""Top right: the commit log, loaded a page at a time as the cursor or the scroll nears
its end, so a log of 100,000 commits opens as fast as one of 100."""

from __future__ import annotations

import datetime as _dt
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


# -- dates --------------------------------------------------------------------------------
YEAR = _dt.timedelta(days=365)
DATE_NARROW = 11  # "05-20 09:15" or "2023-03-01 "
DATE_WIDE = 16  # "2024-05-20 09:15"


def parse_date(iso: str) -> _dt.datetime | None:
    """An ISO 8601 timestamp as an aware datetime (UTC when it names no offset), or None."""
    try:
        when = _dt.datetime.fromisoformat(iso)
    except (TypeError, ValueError):
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=_dt.timezone.utc)


def format_date(iso: str, now: _dt.datetime | None, wide: bool) -> str:
    """The log's date cell, in the commit's own time zone (as ``git log`` shows it).

    Wide: ``2024-05-20 09:15``. Narrow: ``05-20 09:15`` within a year of NOW (the time
    the TUI started, or ``PVC_DATE``), else ``2023-03-01`` (padded to the same width).
    Both formats have a fixed width, so the column never changes size with the data."""
    when = parse_date(iso)
    if when is None:
        return _clip(iso, DATE_WIDE if wide else DATE_NARROW)
    if wide:
        return when.strftime("%Y-%m-%d %H:%M")
    if now is not None and abs(when - now) < YEAR:
        return when.strftime("%m-%d %H:%M")
    return when.strftime("%Y-%m-%d").ljust(DATE_NARROW)


# -- decorations ----------------------------------------------------------------------------
HEAD_ARROW = "HEAD → "


def decoration(names: list[str], budget: int | None = None) -> str:
    """'(HEAD → main, v1, origin/main)' condensed to fit BUDGET cells: first without the
    HEAD arrow, then the first names and '+N' for the rest, then the first name clipped.
    NAMES come first-is-HEAD (``RefsInfo.names_at``), so the checked-out branch stays."""
    if not names:
        return ""
    full = "(" + ", ".join(names) + ")"
    if budget is None or len(full) <= budget:
        return full
    bare = [names[0].removeprefix(HEAD_ARROW) or names[0]] + names[1:]
    n = len(bare)
    for k in range(n, 0, -1):
        text = "(" + ", ".join(bare[:k]) + (f" +{n - k}" if k < n else "") + ")"
        if len(text) <= budget:
            return text
    more = f" +{n - 1}" if n > 1 else ""
    return "(" + _clip(bare[0], max(1, budget - 2 - len(more))) + more + ")"


def commit_cells(c: CommitInfo, refs: list[str] | None = None,
                 colors: dict[str, str] | None = None, *, now: _dt.datetime | None = None,
                 wide: bool = True, budget: int | None = None
                 ) -> tuple[Text, Text, Text, Text, Text]:
    """The log row of one commit: glyph, short id, date, author, summary (+ ref names).
    A merge commit gets a diamond glyph and an italic summary. Cells are Rich Text (never
    markup: a message may contain [brackets]); COLORS are the app's theme variables;
    BUDGET caps the ref names' width so the message stays in view."""
    colors = colors or {}
    merge = len(c.parents) > 1
    glyph = Text(MERGE_GLYPH if merge else COMMIT_GLYPH,
                 style=Style(color=_color(colors, "text-accent", "magenta"), bold=True) if merge else "")
    summary = Text(" ")
    if refs:
        summary.append(decoration(refs, budget) + " ",
                       style=Style(color=_color(colors, "text-warning", "yellow"), bold=True))
    summary.append(c.summary, style="italic" if merge else "")
    short = Text(" " + c.short, style=Style(color=_color(colors, "text-primary", "blue")))
    return (glyph, short, Text(" " + format_date(c.date, now, wide)),
            Text(" " + _clip(author_name(c.author), 12)), summary)


def log_layout(width: int) -> tuple[bool, int]:
    """(wide dates?, ref-name budget) for a log WIDTH cells wide: full dates when 40 cells
    stay for the message; ref names get a third of the message column (at least 10), or
    all but 50 cells of it on wide screens."""
    fixed = 1 + 9 + 13  # glyph, " 1234abcd", " " + author (12)
    wide = width - fixed - (DATE_WIDE + 1) >= 40
    room = width - fixed - ((DATE_WIDE if wide else DATE_NARROW) + 1)
    return wide, max(10, room // 3, room - 50)


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

    def repaint_when_measured(self) -> None:
        """Draw the rows again once DataTable has measured new rows (it does that when
        idle; lines drawn before, with the column labels' widths, would stay cached)."""
        self.call_next(self.notify_style_update)  # runs right after the idle handler

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

    def __init__(self, fetch: Fetch, now: _dt.datetime | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self._fetch = fetch
        self.now = now  # dates within a year of it show their time (see format_date)
        self.wide = False  # full dates (set from the width, see log_layout)
        self.budget = 10  # cells for the ref names before a message
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
        self._add_columns()
        self.watch(self.app, "theme", lambda _: self._restyle(), init=False)

    def _add_columns(self) -> None:
        t = self.table
        t.add_column(" ", key="glyph")
        t.add_column(" commit", key="id")
        t.add_column(" date", key="date")
        t.add_column(" author", key="author")
        t.add_column(" message", key="message")

    def _cells(self, c: CommitInfo, colors: dict[str, str]) -> tuple[Text, ...]:
        return commit_cells(c, self.decorations.get(c.id), colors, now=self.now,
                            wide=self.wide, budget=self.budget)

    def _restyle(self) -> None:
        """Recolour the rows that carry colour (merges, ref names) for a new theme."""
        colors = self.app.theme_variables
        t = self.table
        for c in self.commits:
            glyph, short, _, _, summary = self._cells(c, colors)
            if self.decorations.get(c.id) or len(c.parents) > 1:
                t.update_cell(c.id, "glyph", glyph)
                t.update_cell(c.id, "message", summary)
            t.update_cell(c.id, "id", short)

    def _fit(self) -> bool:
        """Take the date format and the ref-name budget from the table's width; whether
        they changed. The scrollbar's room is always kept, so rows never depend on it."""
        t = self.table  # it fills the pane; its own size may lag behind on a resize
        width = self.content_size.width - t.styles.scrollbar_size_vertical
        if width <= 0:
            return False
        wide, budget = log_layout(width)
        changed = (wide, budget) != (self.wide, self.budget)
        self.wide, self.budget = wide, budget
        return changed

    def on_resize(self) -> None:
        wide = self.wide
        if not self._fit() or not self.commits:
            return
        t = self.table
        colors = self.app.theme_variables
        if wide != self.wide:  # the date column changes width: lay the rows out again
            row = t.cursor_row
            t.clear(columns=True)  # columns only ever grow: start them again
            self._add_columns()
            for c in self.commits:
                t.add_row(*self._cells(c, colors), key=c.id)
            t.move_cursor(row=row)
            t.repaint_when_measured()
        else:  # only the ref names are condensed differently
            for c in self.commits:
                if self.decorations.get(c.id):
                    t.update_cell(c.id, "message", self._cells(c, colors)[4])

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
        self._append(page, query)

    def _append(self, page: LogPage, query: LogQuery) -> None:
        first = not self.commits
        if first:
            self._fit()
        self.commits.extend(page.commits)
        colors = self.app.theme_variables
        add = self.table.add_row
        for c in page.commits:  # commits[i] is row i; the row key is the commit id
            add(*self._cells(c, colors), key=c.id)
        self.table.repaint_when_measured()
        self.done = page.done
        self.fetching = False
        if first and self.commits:
            row = self.row_of(self._select) if self._select else None
            self._select = None
            self.table.move_cursor(row=row or 0)
            # moving to where the cursor already is posts nothing: say it ourselves
            self.post_message(self.CommitHighlighted(self.commits[self.table.cursor_row]))
        self.post_message(self.Loaded(query, len(self.commits), self.done))

    # -- events ---------------------------------------------------------------------
    @on(DataTable.RowHighlighted, "#log-table")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        row = event.cursor_row
        if row != self.table.cursor_row:
            return  # overtaken (a relayout on resize puts the cursor back where it was)
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
