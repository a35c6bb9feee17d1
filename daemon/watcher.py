"""File watching: watchdog events -> debounced, stable, content-changed paths.

An editor's save is a burst (write a temp file, rename it over the original, chmod, ...).
The watcher collects the paths an event touches, waits until no event arrived for the
debounce window, then checks that each file is stable (same size and blake3 digest across
the window) and that its content differs from the last content seen. Only then is the path
reported, so a half-written file is never committed and a save that changed nothing is
skipped.

Layer: the one module that imports watchdog, inside `Watcher.start` (its types only
while type checking); the rest is the standard library and blake3.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import blake3

if TYPE_CHECKING:
    from watchdog.events import FileSystemEvent
    from watchdog.observers.api import BaseObserver

IGNORED_PARTS = {".pvc", ".git", ".hg", ".svn", ".venv", "venv", "node_modules", "__pycache__"}


def digest(path: Path) -> tuple[int, str] | None:
    """(size, blake3 hex) of a regular file, or None when it does not exist."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        return None
    return len(data), blake3.blake3(data).hexdigest()


class Debouncer:
    """Collects touched paths; `due()` returns them once quiet for WINDOW seconds."""

    def __init__(self, window: float):
        self.window = window
        self._lock = threading.Lock()
        self._pending: dict[str, float] = {}
        self._last_event = 0.0
        self.wakeup = threading.Event()

    def touch(self, rel: str) -> None:
        now = time.monotonic()
        with self._lock:
            self._pending[rel] = now
            self._last_event = now
        self.wakeup.set()

    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def due(self) -> list[str]:
        with self._lock:
            if not self._pending or time.monotonic() - self._last_event < self.window:
                return []
            out = sorted(self._pending)
            self._pending.clear()
            return out

    def time_to_due(self) -> float | None:
        with self._lock:
            if not self._pending:
                return None
            return max(0.0, self.window - (time.monotonic() - self._last_event))


class Watcher:
    """Runs a watchdog observer over ROOT and feeds relevant paths to a Debouncer."""

    def __init__(self, root: Path, wanted: Callable[[str], bool], debounce: float = 0.3):
        self.root = root
        self.wanted = wanted
        self.debouncer = Debouncer(debounce)
        self.observer: BaseObserver | None = None

    def _rel(self, path: str | bytes) -> str | None:
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        try:
            rel = Path(path).resolve().relative_to(self.root).as_posix()
        except (ValueError, OSError):
            try:
                rel = Path(path).relative_to(self.root).as_posix()
            except ValueError:
                return None
        if rel == "." or any(part in IGNORED_PARTS for part in rel.split("/")):
            return None
        return rel

    def on_event(self, event: FileSystemEvent) -> None:
        if event.is_directory:
            return
        for attr in ("src_path", "dest_path"):
            p = getattr(event, attr, None)
            if not p:
                continue
            rel = self._rel(p)
            if rel is not None and self.wanted(rel):
                self.debouncer.touch(rel)

    def start(self) -> None:
        from watchdog.events import FileSystemEventHandler
        from watchdog.observers import Observer

        watcher = self

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event: FileSystemEvent) -> None:  # noqa: D401 - watchdog callback
                if event.event_type in ("opened", "closed_no_write"):
                    return
                watcher.on_event(event)

        self.observer = observer = Observer()
        observer.schedule(Handler(), str(self.root), recursive=True)
        observer.daemon = True
        observer.start()

    def stop(self) -> None:
        if self.observer is not None:
            self.observer.stop()
            self.observer.join(timeout=5)
            self.observer = None


class StableFilter:
    """Keeps the last seen digest per path: reports a path only when its content changed
    and stayed the same over the debounce window."""

    def __init__(self):
        self.seen: dict[str, tuple[int, str] | None] = {}

    def prime(self, rel: str, value: tuple[int, str] | None) -> None:
        self.seen[rel] = value

    def changed(self, root: Path, rels: list[str], window: float) -> tuple[list[str], list[str]]:
        """(changed paths, still-unstable paths to look at again)."""
        first = {r: digest(root / r) for r in rels}
        time.sleep(window)  # unchanged across the whole debounce window, or not done yet
        changed, unstable = [], []
        for r in rels:
            again = digest(root / r)
            if again != first[r]:
                unstable.append(r)
                continue
            if self.seen.get(r, "unknown") == again:
                continue
            self.seen[r] = again
            changed.append(r)
        return changed, unstable
