"""`pvc tui`: browse branches, history, files and diffs of a pvc repository.

``make_app(repo_path, rev, path)`` builds the app; ``run(...)`` runs it. Panes live in their
own modules (refs_pane, log_pane, files_pane, viewer, status_bar) and talk to the app with
messages; the app owns the repository lanes (data.py) and decides what to load.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path

from textual import events, on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Grid
from textual.content import Content
from textual.notifications import SeverityLevel
from textual.widgets import Footer

from promptvc.errors import NotARepository, PathError, PvcError
from promptvc.repo import CommitInfo, find_root, now_iso

from .daemon_state import read_daemon_state
from .data import (
    HEADS, REMOTES, TAGS, CommitView, Doc, FileRef, Lane, LogPage, LogQuery, Reader, RefsInfo, Stale,
    change_ref, doc_key, effective_compare,
)
from .files_pane import FilesPane
from .filters import LogFilter, parse_filter
from .log_pane import LogPane, parse_date
from .refs_pane import RefsPane
from .screens import HelpScreen, PromptScreen
from .status_bar import StatusBar
from .styles import APP_CSS
from .viewer import ViewerPane

# at most 68 cells a line: the prompt box is 72 wide (with its border and padding)
FILTER_HINT = ("path:PATH  author:NAME  message:TEXT  or plain words\n"
               "enter applies · empty shows every commit · esc cancels")
GOTO_HINT = ("a commit id (or 4+ characters of one), branch, tag, HEAD~3\n"
             "enter goes there · esc cancels")
DAEMON_POLL_SECONDS = 2.0


def _ref_label(ref: str) -> str:
    for prefix in (HEADS, TAGS, REMOTES):
        if ref.startswith(prefix):
            return ref[len(prefix):]
    return ref


class PvcApp(App[None]):
    TITLE = "pvc"
    CSS = APP_CSS
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Help"),
        Binding("slash", "filter", "Filter"),
        Binding("g", "goto", "Go to"),
        Binding("b", "focus_branches", "Branches"),
        Binding("d", "toggle_content", "Text/Diff"),
        Binding("s", "toggle_side_by_side", "Split"),
        Binding("m", "mark", "Mark"),
        Binding("c", "copy", "Copy"),
        Binding("r", "reload", "Reload", show=False),
        Binding("escape", "clear_mark", "Clear mark", show=False),
    ]

    def __init__(self, root: Path, rev: str | None = None, path: str | None = None) -> None:
        super().__init__()
        self.root = root
        self.start_rev = rev
        self.filter = LogFilter(paths=(path,)) if path else LogFilter()
        self.lanes = {"log": Lane(root, "log"), "ui": Lane(root, "ui")}
        self.refs_info: RefsInfo | None = None
        self.mark: FileRef | None = None
        self._docs: OrderedDict[tuple, Doc] = OrderedDict()
        self._views: OrderedDict[tuple, CommitView] = OrderedDict()  # prefetched commits
        self._want_commit: str | None = None
        self._log_label = ""
        self._panes: dict[str, object] = {}
        # "now" for the log's dates (PVC_DATE when set, as for commits): display only
        self.now = parse_date(now_iso())

    # -- layout ---------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        with Grid(id="main"):
            yield RefsPane(id="refs", classes="pane")
            yield LogPane(self._fetch_log, self.now, id="log", classes="pane")
            yield FilesPane(id="files", classes="pane")
            yield ViewerPane(id="viewer", classes="pane")
        yield StatusBar(id="status")
        yield Footer(compact=True, show_command_palette=False)

    # the panes, found once: handlers may still run while the app shuts down
    @property
    def refs_pane(self) -> RefsPane:
        return self._pane("refs", RefsPane)

    @property
    def log_pane(self) -> LogPane:
        return self._pane("log", LogPane)

    @property
    def files_pane(self) -> FilesPane:
        return self._pane("files", FilesPane)

    @property
    def viewer(self) -> ViewerPane:
        return self._pane("viewer", ViewerPane)

    @property
    def status_bar(self) -> StatusBar:
        return self._pane("status", StatusBar)

    def _pane(self, name: str, kind: type):
        widget = self._panes.get(name)
        if widget is None:
            widget = self._panes[name] = self.query_one(f"#{name}", kind)
        return widget

    def on_mount(self) -> None:
        self.refs_pane.border_title = "Branches & tags"
        self.log_pane.border_title = "Log"
        self.files_pane.border_title = "Files"
        self._poll_daemon()
        self.set_interval(DAEMON_POLL_SECONDS, self._poll_daemon)
        self.log_pane.table.focus()
        self._startup()

    def on_resize(self, event: events.Resize) -> None:
        # the event's size: self.size may still be the previous one here
        left = max(22, min(40, event.size.width // 4))
        self.query_one("#main").styles.grid_columns = f"{left} 1fr"

    def on_unmount(self) -> None:
        for lane in self.lanes.values():
            lane.close()

    # -- data -----------------------------------------------------------------------
    async def _fetch_log(self, query: LogQuery, offset: int, count: int) -> LogPage:
        return await self.lanes["log"].call(Reader.log_page, query, offset, count, key="log")

    @work(group="refs", exclusive=True)
    async def _startup(self) -> None:
        info = await self._load_refs()
        if info is None:
            return
        if self.start_rev:
            rev, select = self.start_rev, self._ref_for(self.start_rev, info)
            query_rev = select or rev
        elif info.current is not None:
            query_rev = select = HEADS + info.current
        else:
            query_rev = select = "HEAD"
        self._show_log(LogQuery(query_rev, self.filter), label=_ref_label(query_rev))
        self.refs_pane.show_refs(info, select)

    def _ref_for(self, rev: str, info: RefsInfo) -> str | None:
        """The full ref name REV names, when it names one."""
        if rev == "HEAD":
            return HEADS + info.current if info.current else "HEAD"
        for prefix, names in ((HEADS, info.branches), (TAGS, info.tags), (REMOTES, info.remotes)):
            for name, _ in names:
                if rev in (name, prefix + name):
                    return prefix + name
        return None

    async def _load_refs(self) -> RefsInfo | None:
        try:
            info = await self.lanes["ui"].call(Reader.refs)
        except PvcError as exc:
            self._error(exc, "Cannot read the repository")
            return None
        self.refs_info = info
        self.log_pane.decorations = info.names_at()
        branch = info.current or f"HEAD detached at {(info.head or '')[:8]}"
        self.status_bar.set(branch=branch)
        return info

    def _show_log(self, query: LogQuery, label: str, select: str | None = None) -> None:
        self._log_label = label
        self.log_pane.border_title = Content(f"Log · {label}")  # not markup: names may hold [ ]
        self.log_pane.border_subtitle = "loading…"
        self.status_bar.set(showing=label, filter=query.filter.describe())
        self.log_pane.show_log(query, select=select)

    def _poll_daemon(self) -> None:
        self.status_bar.set(daemon=read_daemon_state(self.root))

    def _error(self, exc: PvcError, title: str) -> None:
        text = exc.message + (f"\n{exc.hint}" if exc.hint else "")
        self._say(text, title=title, severity="error", timeout=8)

    def _say(self, message: str, *, title: str = "", severity: SeverityLevel = "information",
             timeout: float | None = None) -> None:
        """A notification; never markup, since paths and messages may hold [brackets]."""
        self.notify(message, title=title, severity=severity, timeout=timeout, markup=False)

    # -- log ------------------------------------------------------------------------
    @on(LogPane.Loaded)
    def _log_loaded(self, event: LogPane.Loaded) -> None:
        n = event.rows
        self.log_pane.border_subtitle = f"{n}{'' if event.done else '+'} commit{'s' if n != 1 else ''}"
        if n == 0:
            self._want_commit = None
            self.files_pane.show_changes("", [])
            what = "match the filter" if not event.query.filter.empty else "yet"
            self.viewer.show_message(f"No commits {what}.")

    @on(LogPane.LoadFailed)
    def _log_failed(self, event: LogPane.LoadFailed) -> None:
        self.log_pane.border_subtitle = "error"
        self._error(event.error, "Cannot show the log")
        self.viewer.show_message(event.error.message)

    @on(LogPane.CommitHighlighted)
    def _commit_highlighted(self, event: LogPane.CommitHighlighted) -> None:
        self.open_commit(event.commit)

    @on(LogPane.CommitChosen)
    def _commit_chosen(self, event: LogPane.CommitChosen) -> None:
        self.files_pane.list.focus()

    def open_commit(self, commit: CommitInfo) -> None:
        if commit.id == self._want_commit:
            return
        self._want_commit = commit.id
        current = self.files_pane.current
        prefer = current.path if current else None
        view = self._views.get((commit.id, self.mark, prefer))
        if view is not None:  # prefetched: no round trip
            self._show_commit(view)
            self._prefetch_neighbours(commit.id, prefer)
        else:
            self._load_commit(commit.id, prefer)

    @work(group="commit", exclusive=True)
    async def _load_commit(self, cid: str, prefer_path: str | None) -> None:
        try:
            view = await self.lanes["ui"].call(Reader.commit_view, cid, self.mark, prefer_path,
                                               key="commit")
        except Stale:
            return
        except PvcError as exc:
            self._error(exc, "Cannot show the commit")
            return
        if cid != self._want_commit:
            return
        self._show_commit(view)
        self._prefetch_neighbours(cid, prefer_path)

    def _show_commit(self, view: CommitView) -> None:
        if view.first is not None:
            self._remember(view.first)
            self.viewer.show(view.first)
        else:
            self.viewer.show_message("This commit changes no files (a merge that kept one side).")
        first_ref = view.first.ref if view.first else None
        self.files_pane.show_changes(view.commit, view.changes,
                                     first_ref.path if first_ref else None)

    @work(group="prefetch", exclusive=True)
    async def _prefetch_neighbours(self, cid: str, prefer_path: str | None) -> None:
        """Load the commits above and below CID ahead of time, so j/k show them at once."""
        log = self.log_pane
        row = log.row_of_cursor(cid)
        mark = self.mark
        for near in (row + 1, row - 1) if row is not None else ():
            if not 0 <= near < len(log.commits):
                continue
            other = log.commits[near].id
            key = (other, mark, prefer_path)
            if key in self._views:
                continue
            try:
                view = await self.lanes["ui"].call(Reader.commit_view, other, mark, prefer_path,
                                                   key="prefetch")
            except (Stale, PvcError):
                return  # a prefetch is only a guess; the real load reports errors
            self._views[key] = view
            while len(self._views) > 32:
                self._views.popitem(last=False)

    # -- files ----------------------------------------------------------------------
    @on(FilesPane.FileHighlighted)
    def _file_highlighted(self, event: FilesPane.FileHighlighted) -> None:
        self.open_file(event.commit, event.change)

    @on(FilesPane.FileChosen)
    def _file_chosen(self, event: FilesPane.FileChosen) -> None:
        self.viewer.focus()

    def open_file(self, cid: str, change) -> None:
        key = doc_key(cid, change.path, effective_compare(self.mark, cid, change.path))
        if self.viewer.shown_key == key:
            return
        cached = self._docs.get(key)
        if cached is not None:
            self.viewer.show(cached)
            return
        self._load_file(cid, change)

    @work(group="file", exclusive=True)
    async def _load_file(self, cid: str, change) -> None:
        try:
            doc = await self.lanes["ui"].call(Reader.file_doc, cid, change, self.mark, key="file")
        except Stale:
            return
        except PvcError as exc:
            self._error(exc, "Cannot show the file")
            return
        self._remember(doc)
        current = self.files_pane.current
        if self.files_pane.commit == cid and current is not None and current.path == change.path:
            self.viewer.show(doc)

    def _remember(self, doc: Doc) -> None:
        self._docs[doc.key] = doc
        self._docs.move_to_end(doc.key)
        while len(self._docs) > 64:
            self._docs.popitem(last=False)

    # -- refs -----------------------------------------------------------------------
    @on(RefsPane.RefHighlighted)
    def _ref_highlighted(self, event: RefsPane.RefHighlighted) -> None:
        self.show_ref(event.ref)

    def show_ref(self, ref: str) -> None:
        """Show the log of REF (a full ref name), unless the log shows it already."""
        query = self.log_pane.log_query
        if query is not None and query.rev == ref:
            return
        self._show_log(LogQuery(ref, self.filter), label=_ref_label(ref))

    @on(RefsPane.SwitchRequested)
    def _switch_requested(self, event: RefsPane.SwitchRequested) -> None:
        ref = event.ref
        if not ref.startswith(HEADS):
            self._say("Only branches can be switched to; tags, remote branches and a "
                        "detached HEAD are shown read-only.", title="Not a branch",
                        severity="warning")
            return
        name = ref[len(HEADS):]
        if self.refs_info is not None and self.refs_info.current == name:
            self._say(f"Already on '{name}'.")
            return
        self._switch(name)

    @work(group="switch", exclusive=True)
    async def _switch(self, name: str) -> None:
        try:
            await self.lanes["ui"].call(Reader.switch, name)
        except PvcError as exc:
            self._error(exc, f"Cannot switch to '{name}'")
            await self._back_to_current()
            return
        except OSError as exc:
            self._say(f"cannot switch to '{name}': {exc}", title="Cannot switch", severity="error")
            await self._back_to_current()
            return
        self._say(f"Switched to branch '{name}'.", title="Switched")
        info = await self._load_refs()
        if info is not None:
            self.refs_pane.show_refs(info, HEADS + name)
            self.show_ref(HEADS + name)

    async def _back_to_current(self) -> None:
        """After a refused switch: show what is checked out (its log, its title), not the
        branch the user tried to switch to."""
        info = await self._load_refs()
        if info is None:
            return
        ref = HEADS + info.current if info.current else "HEAD"
        self.refs_pane.show_refs(info, ref)
        self.show_ref(ref)

    # -- actions --------------------------------------------------------------------
    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_focus_branches(self) -> None:
        self.refs_pane.list.focus()

    def action_toggle_content(self) -> None:
        self.viewer.mode = "content" if self.viewer.mode == "diff" else "diff"

    def action_toggle_side_by_side(self) -> None:
        if self.viewer.mode != "diff":
            self.viewer.mode = "diff"
            self.viewer.side_by_side = True
        else:
            self.viewer.side_by_side = not self.viewer.side_by_side

    def action_filter(self) -> None:
        self.push_screen(
            PromptScreen("Filter the log", FILTER_HINT, self.filter.describe(),
                         "path:prompts/a.md author:ada fix", check=_filter_problem),
            self.apply_filter,
        )

    def apply_filter(self, text: str | None) -> None:
        if text is None:
            return
        try:
            self.filter = parse_filter(text)
        except PvcError as exc:  # the prompt checks first; this is for other callers
            self._error(exc, "Cannot filter the log")
            return
        query = self.log_pane.log_query
        rev = query.rev if query is not None else "HEAD"
        self._show_log(LogQuery(rev, self.filter), label=self._log_label or _ref_label(rev))

    def action_goto(self) -> None:
        self.push_screen(PromptScreen("Go to revision", GOTO_HINT, "", "HEAD~1"), self.goto)

    def goto(self, rev: str | None) -> None:
        if rev and rev.strip():
            self._goto(rev.strip())

    @work(group="goto", exclusive=True)
    async def _goto(self, rev: str) -> None:
        try:
            commit = await self.lanes["ui"].call(Reader.resolve, rev)
        except PvcError as exc:
            self._error(exc, "Cannot go there")
            return
        log = self.log_pane
        row = log.row_of(commit.id)
        if row is not None:
            log.table.move_cursor(row=row)
        else:
            if not self.filter.empty:
                self._say("The filter was cleared to show this commit.")
                self.filter = LogFilter()
            ref = self._ref_for(rev, self.refs_info) if self.refs_info else None
            if ref is not None:
                self._show_log(LogQuery(ref, self.filter), label=_ref_label(ref), select=commit.id)
                self.refs_pane.select(ref)
            else:
                self._show_log(LogQuery(commit.id, self.filter), label=f"{rev} ({commit.short})",
                               select=commit.id)
        log.table.focus()

    def action_mark(self) -> None:
        change = self.files_pane.current
        cid = self.files_pane.commit
        if change is None or not cid:
            self._say("Select a file first: the mark is one version of one file.",
                        severity="warning")
            return
        ref = change_ref(cid, change)
        if self.mark is not None and (self.mark.commit, self.mark.path) == (ref.commit, ref.path):
            self._set_mark(None)
            return
        self._set_mark(ref)
        self._say(f"Marked {ref.label}. Select another version to compare it with this one.",
                    title="Marked", timeout=3)

    def action_clear_mark(self) -> None:
        if self.mark is not None:
            self._set_mark(None)

    def _set_mark(self, ref: FileRef | None) -> None:
        self.mark = ref
        self.files_pane.set_mark((ref.commit, ref.path) if ref else None)
        self.status_bar.set(mark=ref.label if ref else "")
        change = self.files_pane.current
        if change is not None and self.files_pane.commit:
            self.open_file(self.files_pane.commit, change)

    def action_copy(self) -> None:
        doc = self.viewer.doc
        if doc is None or doc.content is None or doc.ref is None:
            self._say("Nothing to copy: select a file first.", severity="warning")
            return
        text = doc.content.decode("utf-8", "replace")
        self.copy_to_clipboard(text)
        lines = text.count("\n") + (1 if text and not text.endswith("\n") else 0)
        self._say(f"Copied {doc.ref.label} ({lines} line{'s' if lines != 1 else ''}).",
                    title="Copied")

    def action_reload(self) -> None:
        self._reload()

    @work(group="refs", exclusive=True)
    async def _reload(self) -> None:
        info = await self._load_refs()
        if info is None:
            return
        query = self.log_pane.log_query
        current = self.log_pane.current
        select_ref = query.rev if query is not None and query.rev.startswith("refs/") else None
        self.refs_pane.show_refs(info, select_ref)
        if query is not None:
            self._want_commit = None
            self._show_log(query, self._log_label, select=current.id if current else None)


def _filter_problem(text: str) -> str | None:
    """What is wrong with a filter as typed (shown in the filter prompt), or None."""
    try:
        parse_filter(text)
    except PvcError as exc:
        return exc.message + (f"\n{exc.hint}" if exc.hint else "")
    return None


def make_app(repo_path: str, rev: str | None = None, path: str | None = None) -> PvcApp:
    """The TUI for the repository at (or above) REPO_PATH, showing REV's log (default: the
    current branch), filtered to PATH when given (a repository-relative path)."""
    root = find_root(Path(repo_path))
    if root is None:
        raise NotARepository(
            f"not a pvc repository (or any parent up to /): {Path(repo_path).resolve()}",
            hint="run `pvc init` to create one here, or pass -C PATH",
        )
    return PvcApp(root, rev=rev, path=_repo_relative(root, path) if path else None)


def _repo_relative(root: Path, user_path: str) -> str:
    """PATH as typed (relative to the current folder) -> a repository-relative POSIX path."""
    full = Path(os.path.normpath(os.path.join(os.getcwd(), user_path)))
    for candidate in (full, full.resolve()):
        try:
            rel = candidate.relative_to(root).as_posix()
        except ValueError:
            continue
        return "" if rel == "." else rel
    raise PathError(f"'{user_path}' is outside the repository at {root}",
                    hint="give a path inside the repository")


def run(repo_path: str, rev: str | None = None, path: str | None = None) -> None:
    make_app(repo_path, rev, path).run()
