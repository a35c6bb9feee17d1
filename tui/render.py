"""Turn diffs and file contents into Rich renderables (pure functions, no Textual).

Colours come from the app's theme variables (``text-success``, ``text-error``, ...), so a
diff reads well in light and dark themes alike.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import zip_longest

from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.measure import Measurement
from rich.style import Style
from rich.table import Table
from rich.text import Text

from promptvc.delta import split_lines

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@(.*)$")


@dataclass(frozen=True)
class Palette:
    add: Style
    remove: Style
    add_line: Style  # a whole added line in side-by-side
    remove_line: Style
    hunk: Style
    header: Style
    muted: Style

    @classmethod
    def from_variables(cls, v: dict[str, str]) -> "Palette":
        def color(name: str, default: str) -> str | None:
            value = v.get(name, default)
            return value if value.startswith("#") else default

        ok, err = color("text-success", "green"), color("text-error", "red")
        ok_bg, err_bg = color("success-muted", "default"), color("error-muted", "default")
        return cls(
            add=Style(color=ok), remove=Style(color=err),
            add_line=Style(color=ok, bgcolor=ok_bg), remove_line=Style(color=err, bgcolor=err_bg),
            hunk=Style(color=color("text-primary", "cyan"), bold=True),
            header=Style(bold=True), muted=Style(dim=True),
        )


DEFAULT_PALETTE = Palette(Style(color="green"), Style(color="red"),
                          Style(color="green"), Style(color="red"),
                          Style(color="cyan", bold=True), Style(bold=True), Style(dim=True))


def _line(raw: bytes) -> str:
    text = raw.decode("utf-8", "replace")
    if text.endswith("\n"):
        text = text[:-1]
    if text.endswith("\r"):
        text = text[:-1] + "␍"
    return text.replace("\t", "    ")


class GutterText:
    """Lines of text behind a gutter (a diff's +/- marker, a line number) that wrap within
    the width left beside it; each wrapped piece gets the continuation gutter, so a long
    added line reads as added on every screen line, not as context. ``plain`` is the text
    without wrapping."""

    def __init__(self) -> None:
        self.lines: list[tuple[Text, Text, Text]] = []  # gutter, continuation gutter, body
        self.plain = ""

    def add(self, gutter: Text, body: Text, continuation: Text | None = None) -> None:
        self.lines.append((gutter, gutter if continuation is None else continuation, body))

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = max(1, options.max_width)
        out = Text(no_wrap=True, overflow="fold")  # ends in "\n": Textual counts them
        for i, (gutter, continuation, body) in enumerate(self.lines):
            if i:
                out.append("\n")
            room = width - gutter.cell_len
            if body.cell_len <= room or room < 1:
                out.append_text(gutter)
                out.append_text(body)
                continue
            for j, piece in enumerate(body.wrap(console, room, overflow="fold")):
                if j:
                    out.append("\n")
                out.append_text(gutter if j == 0 else continuation)
                out.append_text(piece)
        yield out

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        widest = max((g.cell_len + b.cell_len for g, _, b in self.lines), default=0)
        return Measurement(min(widest, 1), min(widest, options.max_width))


def render_unified(diff: bytes, pal: Palette = DEFAULT_PALETTE) -> GutterText:
    """A coloured unified diff; a wrapped +/- line repeats its marker on every screen line."""
    out = GutterText()
    plain: list[str] = []
    for raw in split_lines(diff):
        line = _line(raw)
        plain.append(line)
        if raw.startswith((b"--- ", b"+++ ", b"diff ")):
            out.add(Text(""), Text(line, pal.header))
            continue
        if raw.startswith(b"@@"):
            out.add(Text(""), Text(line, pal.hunk))
            continue
        if raw.startswith(b"\\"):
            out.add(Text(""), Text(line, pal.muted))
            continue
        style = pal.add if raw.startswith(b"+") else pal.remove if raw.startswith(b"-") else Style()
        out.add(Text(line[:1] or " ", style), Text(line[1:], style))
    out.plain = "\n".join(plain)
    return out


@dataclass(frozen=True)
class Row:
    """One row of a side-by-side diff; ``kind`` is hunk, same, change, remove or add."""

    kind: str
    old_no: int | None = None
    old: str | None = None
    new_no: int | None = None
    new: str | None = None


def side_by_side_rows(diff: bytes) -> list[Row]:
    """Pair a unified diff's removed and added lines into side-by-side rows."""
    rows: list[Row] = []
    dels: list[tuple[int, str]] = []
    adds: list[tuple[int, str]] = []
    old_no = new_no = 0

    def flush() -> None:
        for d, a in zip_longest(dels, adds):
            if d and a:
                rows.append(Row("change", d[0], d[1], a[0], a[1]))
            elif d:
                rows.append(Row("remove", d[0], d[1], None, None))
            else:
                rows.append(Row("add", None, None, a[0], a[1]))
        dels.clear()
        adds.clear()

    left = right = 0  # lines of the current hunk still to come, per side
    for raw in split_lines(diff):
        if left <= 0 and right <= 0:
            m = _HUNK.match(raw.decode("utf-8", "replace").rstrip("\r\n"))
            if m:
                flush()
                old_no, new_no = int(m.group(1)), int(m.group(3))
                left = 1 if m.group(2) is None else int(m.group(2))
                right = 1 if m.group(4) is None else int(m.group(4))
                old_no += 0 if left else 1  # an empty side's header names the line before
                new_no += 0 if right else 1
                rows.append(Row("hunk", old=_line(raw)))
            # anything else between hunks is a file header or a no-newline marker
            continue
        tag, body = raw[:1], _line(raw[1:])
        if tag == b"-":
            dels.append((old_no, body))
            old_no += 1
            left -= 1
        elif tag == b"+":
            adds.append((new_no, body))
            new_no += 1
            right -= 1
        elif tag == b"\\":
            continue  # "\ No newline at end of file"
        else:
            flush()
            rows.append(Row("same", old_no, body, new_no, body))
            old_no += 1
            new_no += 1
            left -= 1
            right -= 1
    flush()
    return rows


def render_side_by_side(diff: bytes, pal: Palette = DEFAULT_PALETTE) -> RenderableType:
    """Old on the left, new on the right; long lines wrap within their half."""
    table = Table.grid(expand=True, padding=(0, 1))
    table.add_column(justify="right", style=pal.muted, no_wrap=True)
    table.add_column(ratio=1, overflow="fold")
    table.add_column(justify="right", style=pal.muted, no_wrap=True)
    table.add_column(ratio=1, overflow="fold")
    for row in side_by_side_rows(diff):
        if row.kind == "hunk":
            table.add_row("", Text(row.old or "", pal.hunk), "", "")
            continue
        left_style = pal.remove_line if row.kind in ("change", "remove") else Style()
        right_style = pal.add_line if row.kind in ("change", "add") else Style()
        table.add_row(
            "" if row.old_no is None else str(row.old_no),
            Text(row.old if row.old is not None else "", left_style),
            "" if row.new_no is None else str(row.new_no),
            Text(row.new if row.new is not None else "", right_style),
        )
    return table


def render_content(data: bytes, pal: Palette = DEFAULT_PALETTE) -> GutterText:
    """A file's text with line numbers; wrapped lines continue beside an empty number."""
    lines = split_lines(data)
    width = len(str(len(lines)))
    blank = Text(" " * (width + 1))
    out = GutterText()
    for no, raw in enumerate(lines, 1):
        out.add(Text(f"{no:>{width}} ", pal.muted), Text(_line(raw)), blank)
    if data and not data.endswith(b"\n"):
        out.add(blank, Text("(no newline at end of file)", pal.muted))
    out.plain = data.decode("utf-8", "replace")
    return out
