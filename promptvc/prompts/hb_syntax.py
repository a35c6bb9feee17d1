"""The syntax of `{{var}}` / Handlebars templates: tokens, whitespace control, the node tree.

`parse(tokenize(source))` turns a template's text into nodes (Var, Helper, Block, Partial,
whose expressions are Path and Lit); promptvc.prompts.handlebars compiles and renders them.
Errors are TemplateError, with the 1-based line of the template text.

Layer: a leaf (the standard library's re and dataclasses only).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

BLOCK_HELPERS = ("if", "unless", "each", "with", "ifEquals", "unlessEquals")
INLINE_HELPERS = ("role", "json", "history", "section", "media")


class TemplateError(ValueError):
    """The template does not compile, or a partial cannot be rendered. LINE is 1-based in
    the template text."""

    def __init__(self, message: str, line: int):
        super().__init__(message)
        self.message = message
        self.line = line


# -- tokens -----------------------------------------------------------------------------------
@dataclass
class _Tag:
    kind: str  # var raw comment open inverse close else partial
    content: str
    line: int
    ltrim: bool = False
    rtrim: bool = False


def tokenize(src: str) -> list:
    out: list = []
    pos = 0
    n = len(src)
    buf: list[str] = []
    while pos < n:
        i = src.find("{{", pos)
        if i < 0:
            buf.append(src[pos:])
            break
        if i > 0 and src[i - 1] == "\\":  # \{{ is a literal {{
            buf.append(src[pos:i - 1])
            j = src.find("}}", i)
            end = n if j < 0 else j + 2
            buf.append(src[i:end])
            pos = end
            continue
        buf.append(src[pos:i])
        line = src.count("\n", 0, i) + 1
        if buf:
            out.append("".join(buf))
            buf = []
        if src.startswith("{{!--", i) or src.startswith("{{~!--", i):
            j = src.find("--", i + 5)
            while j >= 0 and not (src.startswith("--}}", j) or src.startswith("--~}}", j)):
                j = src.find("--", j + 1)
            if j < 0:
                raise TemplateError("comment '{{!--' is never closed with '--}}'", line)
            rtrim = src.startswith("--~}}", j)
            out.append(_Tag("comment", "", line, src[i + 2] == "~", rtrim))
            pos = j + (5 if rtrim else 4)
            continue
        triple = src.startswith("{{{", i) or src.startswith("{{~{", i)
        close = "}}}" if triple else "}}"
        j = src.find(close, i + 2)
        if j < 0:
            raise TemplateError("'{{' is never closed with '" + close + "'", line)
        inner = src[i + (3 if triple else 2):j]
        pos = j + len(close)
        ltrim = inner.startswith("~")
        if ltrim:
            inner = inner[1:]
        if triple and inner.startswith("{"):
            inner = inner[1:]
        rtrim = inner.endswith("~")
        if rtrim:
            inner = inner[:-1]
        if triple and inner.endswith("}"):
            inner = inner[:-1]
        inner = inner.strip()
        if triple:
            kind = "raw"
        elif inner.startswith("!"):
            kind, inner = "comment", ""
        elif inner.startswith("#"):
            kind, inner = "open", inner[1:].strip()
        elif inner.startswith("^"):
            kind, inner = ("else", "") if inner == "^" else ("inverse", inner[1:].strip())
        elif inner.startswith("/"):
            kind, inner = "close", inner[1:].strip()
        elif inner.startswith(">"):
            kind, inner = "partial", inner[1:].strip()
        elif inner.startswith("&"):
            kind, inner = "raw", inner[1:].strip()
        elif inner == "else" or inner.startswith("else "):
            kind, inner = "else", inner[4:].strip()
        else:
            kind = "var"
        if not inner and kind in ("var", "raw", "open", "inverse", "close", "partial"):
            raise TemplateError("empty expression '{{}}'", line)
        out.append(_Tag(kind, inner, line, ltrim, rtrim))
    if buf:
        out.append("".join(buf))
    _whitespace(out)
    return out


_STANDALONE = ("open", "inverse", "close", "else", "partial", "comment")
_LEAD = re.compile(r"(?:^|\n)([ \t]*)$")
_TRAIL = re.compile(r"^[ \t]*(\r?\n|$)")


def _whitespace(tokens: list) -> None:
    """Apply `~` and Handlebars' standalone-line rule, in place."""
    for k, tok in enumerate(tokens):
        if isinstance(tok, _Tag):
            if tok.ltrim and k > 0 and isinstance(tokens[k - 1], str):
                tokens[k - 1] = tokens[k - 1].rstrip()
            if tok.rtrim and k + 1 < len(tokens) and isinstance(tokens[k + 1], str):
                tokens[k + 1] = tokens[k + 1].lstrip()
    last = len(tokens) - 1
    cuts = []  # (token index, strip trailing blanks of prev, strip leading line of next)
    for k, tok in enumerate(tokens):
        if not isinstance(tok, _Tag) or tok.kind not in _STANDALONE:
            continue
        prev = tokens[k - 1] if k > 0 else ""
        nxt = tokens[k + 1] if k < last else ""
        if not isinstance(prev, str) or not isinstance(nxt, str):
            continue
        lead = _LEAD.search(prev)
        trail = _TRAIL.match(nxt)
        if lead is None or trail is None:
            continue
        if "\n" not in prev and k - 1 > 0:  # the text before starts after another tag
            continue
        if not trail.group(1) and k + 1 < last:  # the text after ends before another tag
            continue
        cuts.append((k, len(lead.group(1)), trail.end()))
    for k, back, fwd in reversed(cuts):
        if k < last:
            tokens[k + 1] = tokens[k + 1][fwd:]
        if k > 0 and back:
            tokens[k - 1] = tokens[k - 1][:len(tokens[k - 1]) - back]


# -- expressions ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Path:
    parts: tuple[str, ...]
    up: int = 0  # number of ../
    data: bool = False  # @index, @root...
    raw: str = ""


@dataclass(frozen=True)
class Lit:
    value: object


_ARG = re.compile(r"""\s*(?:(?P<key>[A-Za-z_][\w-]*)=)?(?P<val>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[^\s"'=]+)""")
_PARTIAL_NAME = re.compile(r"[A-Za-z0-9_./-]+")


def _parse_value(tok: str, line: int):
    if tok[0] in "\"'":
        return Lit(tok[1:-1].replace("\\" + tok[0], tok[0]))
    if tok in ("true", "false"):
        return Lit(tok == "true")
    if tok in ("null", "undefined"):
        return Lit(None)
    if re.fullmatch(r"-?\d+(\.\d+)?", tok):
        return Lit(float(tok) if "." in tok else int(tok))
    raw = tok
    up = 0
    while tok.startswith("../"):
        up += 1
        tok = tok[3:]
    data = tok.startswith("@")
    if data:
        tok = tok[1:]
    if tok.startswith("./"):
        tok = tok[2:]
    parts = tuple(p for p in re.split(r"[./]", tok) if p)
    if not parts or not all(re.fullmatch(r"[\w$-]+", p) for p in parts):
        raise TemplateError(f"'{raw}' is not a variable name", line)
    return Path(parts, up, data, raw)


def _parse_args(text: str, line: int) -> tuple[list, dict]:
    params: list = []
    hash_: dict = {}
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _ARG.match(text, pos)
        if m is None or m.end() == pos:
            raise TemplateError(f"cannot read '{text}'", line)
        value = _parse_value(m.group("val"), line)
        if m.group("key"):
            hash_[m.group("key")] = value
        elif hash_:
            raise TemplateError(f"positional argument after key=value in '{text}'", line)
        else:
            params.append(value)
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return params, hash_


# -- nodes ------------------------------------------------------------------------------------
@dataclass
class Var:
    expr: object
    line: int


@dataclass
class Helper:
    name: str
    params: list
    hash: dict
    line: int


@dataclass
class Block:
    name: str
    params: list
    hash: dict
    line: int
    body: list = field(default_factory=list)
    inverse: list = field(default_factory=list)


@dataclass
class Partial:
    name: str
    params: list
    hash: dict
    line: int


def parse(tokens: list) -> list:
    root: list = []
    # (block, list being filled, in_else); the list is None for an {{else if}} block, which
    # shares its parent's closing tag
    stack: list[tuple[Block, list | None, bool]] = []
    current = root
    for tok in tokens:
        if isinstance(tok, str):
            if tok:
                current.append(tok)
            continue
        if tok.kind == "comment":
            continue
        if tok.kind in ("var", "raw"):
            head, _, rest = tok.content.partition(" ")
            if head in INLINE_HELPERS:
                params, hash_ = _parse_args(rest, tok.line)
                current.append(Helper(head, params, hash_, tok.line))
            elif rest.strip():
                raise TemplateError(f"unknown helper '{head}'", tok.line)
            else:
                current.append(Var(_parse_value(head, tok.line), tok.line))
            continue
        if tok.kind == "partial":
            name, _, rest = tok.content.partition(" ")
            if name[:1] in "\"'":
                name = name[1:-1]
            if not _PARTIAL_NAME.fullmatch(name):
                raise TemplateError(f"'{name}' is not a partial name", tok.line)
            params, hash_ = _parse_args(rest, tok.line)
            current.append(Partial(name, params, hash_, tok.line))
            continue
        if tok.kind in ("open", "inverse"):
            head, _, rest = tok.content.partition(" ")
            if tok.kind == "inverse":  # {{^x}} is {{#unless x}}
                rest, head = tok.content, "unless"
            if head not in BLOCK_HELPERS:
                raise TemplateError(f"unknown block helper '#{head}'", tok.line)
            params, hash_ = _parse_args(rest, tok.line)
            want = 2 if head in ("ifEquals", "unlessEquals") else 1
            if len(params) != want:
                raise TemplateError(f"'#{head}' takes {want} argument{'s' if want > 1 else ''}",
                                    tok.line)
            block = Block(head, params, hash_, tok.line)
            current.append(block)
            stack.append((block, current, False))
            current = block.body
            continue
        if tok.kind == "else":
            if not stack:
                raise TemplateError("'{{else}}' outside a block", tok.line)
            block, parent, in_else = stack[-1]
            if in_else and not tok.content:
                raise TemplateError(f"second '{{{{else}}}}' in '#{block.name}'", tok.line)
            if tok.content:  # {{else if x}}: a nested block that shares the closing tag
                head, _, rest = tok.content.partition(" ")
                if head not in ("if", "unless"):
                    raise TemplateError(f"'{{{{else {head}}}}}' is not supported", tok.line)
                params, hash_ = _parse_args(rest, tok.line)
                if len(params) != 1:
                    raise TemplateError(f"'else {head}' takes 1 argument", tok.line)
                nested = Block(head, params, hash_, tok.line)
                block.inverse.append(nested)
                stack[-1] = (block, parent, True)
                stack.append((nested, None, False))
                current = nested.body
                continue
            stack[-1] = (block, parent, True)
            current = block.inverse
            continue
        if tok.kind == "close":
            if not stack:
                raise TemplateError(f"'{{{{/{tok.content}}}}}' closes nothing", tok.line)
            # unwind {{else if}} chains, which close with their outer block
            while stack[-1][1] is None:
                stack.pop()
            block, parent, _ = stack.pop()
            assert parent is not None  # the {{else if}} entries were unwound just above
            if tok.content != block.name:
                raise TemplateError(f"'{{{{/{tok.content}}}}}' closes '#{block.name}' opened on "
                                    f"line {block.line}", tok.line)
            current = parent
            continue
    if stack:
        while stack and stack[-1][1] is None:
            stack.pop()
        if stack:
            block = stack[-1][0]
            raise TemplateError(f"'#{block.name}' opened here is never closed with "
                                f"'{{{{/{block.name}}}}}'", block.line)
    return root
