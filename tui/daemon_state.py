"""The sync daemon's state, as it reports it in ``.pvc/daemon.json``.

The daemon writes ``{"state": "...", "last_sync": "<ISO 8601>", ...}``; no file means no
daemon is running for this repository.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

FILE = Path(".pvc") / "daemon.json"


@dataclass(frozen=True)
class DaemonState:
    running: bool
    state: str | None = None
    last_sync: str | None = None
    problem: str | None = None

    def describe(self) -> str:
        if self.problem:
            return f"daemon: {self.problem}"
        if not self.running:
            return "no daemon"
        text = f"daemon: {self.state or 'unknown'}"
        if self.last_sync:
            text += f" · last sync {_short_time(self.last_sync)}"
        return text


def _short_time(iso: str) -> str:
    return iso.replace("T", " ")[:19]


def read_daemon_state(root: Path) -> DaemonState:
    path = root / FILE
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return DaemonState(False)
    except OSError as exc:
        return DaemonState(True, problem=f"cannot read {FILE} ({exc.strerror})")
    try:
        data = json.loads(raw)
    except ValueError:
        return DaemonState(True, problem=f"{FILE} is not valid JSON")
    if not isinstance(data, dict):
        return DaemonState(True, problem=f"{FILE} is not a JSON object")
    state, last = data.get("state"), data.get("last_sync")
    return DaemonState(True, str(state) if state is not None else None,
                       str(last) if last is not None else None)
