"""The bottom line above the footer: branch, what the log shows, the mark, the daemon."""

from __future__ import annotations

from dataclasses import dataclass, replace

from textual.content import Content
from textual.widgets import Static

from .daemon_state import DaemonState


@dataclass(frozen=True)
class Status:
    branch: str = ""
    showing: str = ""  # the log's revision
    filter: str = ""
    mark: str = ""
    daemon: DaemonState = DaemonState(False)


class StatusBar(Static):
    """One line of state; the app calls :meth:`set` with whatever changed."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.status = Status()

    def set(self, **fields) -> None:
        new = replace(self.status, **fields)
        if new != self.status:
            self.status = new
            self.update(self.render_status())

    def on_mount(self) -> None:
        self.update(self.render_status())

    def render_status(self) -> Content:
        s = self.status
        parts: list = [("⎇ ", "$text-primary"), (s.branch or "?", "bold")]
        if s.showing:
            parts += ["  log: ", s.showing]
        if s.filter:
            parts += ["  ", ("filter: ", "$text-warning"), s.filter]
        if s.mark:
            parts += ["  ", ("★ ", "$text-accent"), s.mark]
        style = "$text-muted" if not s.daemon.running else (
            "$text-error" if s.daemon.problem else "$text-success")
        parts += ["  │ ", (s.daemon.describe(), style)]
        return Content.assemble(*parts)

    @property
    def plain(self) -> str:
        return self.render_status().plain
