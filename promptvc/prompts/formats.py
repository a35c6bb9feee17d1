"""Parse prompt files: which format, the YAML front matter as data, the declared inputs and
the template body.

    .prompt               Dotprompt: front matter (model, config, input.schema in Picoschema,
                          input.default), Handlebars body (stripped, as Dotprompt does)
    .prompty              Prompty: front matter (model.api/configuration/parameters, inputs,
                          sample), Jinja2 body with `system:` / `user:` / `assistant:` lines
    .j2 .jinja .jinja2    Jinja2 templates, optional front matter
    .md .txt ... others   Markdown or text, optional front matter, `{{var}}` placeholders
    .yaml .yml .json      data files: never templated, never split

Parsing reads the text; it never changes the bytes pvc stores. A PromptDoc keeps the offset
of its body, so `doc.text[:doc.body_offset]` plus the raw body is the file, byte for byte.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..errors import PvcError

_MISSING = object()

EXTENSIONS = {
    ".prompt": "dotprompt", ".prompty": "prompty",
    ".j2": "jinja", ".jinja": "jinja", ".jinja2": "jinja",
    ".md": "markdown", ".markdown": "markdown", ".mdx": "markdown",
    ".yaml": "data", ".yml": "data", ".json": "data",
}
ENGINES = {"dotprompt": "handlebars", "prompty": "jinja", "jinja": "jinja", "markdown": "handlebars",
           "text": "handlebars", "data": "handlebars"}
# keys whose values are model parameters when they sit at the top of Markdown front matter
PARAMETER_KEYS = ("temperature", "max_tokens", "max_output_tokens", "top_p", "top_k",
                  "frequency_penalty", "presence_penalty", "stop", "seed", "maxOutputTokens",
                  "topK", "topP", "stopSequences", "response_format")
ROLE_LINE = re.compile(r"(?im)^[ \t]*#?[ \t]*(system|user|assistant|function|tool)[ \t]*:[ \t]*$")
_FENCE = re.compile(r"---[ \t]*\r?$")


class PromptError(PvcError):
    """A prompt file cannot be rendered: bad front matter, template, variable or include."""

    def __init__(self, message: str, *, path: str = "", line: int | None = None,
                 hint: str | None = None):
        super().__init__(message, hint=hint)
        self.path = path
        self.line = line


class UndefinedVariables(PromptError):
    def __init__(self, names: list[str], path: str):
        super().__init__(f"prompt {path} needs variable(s) {', '.join(names)}", path=path,
                         hint="pass them as keyword arguments to render() or `-v NAME=VALUE`")
        self.names = names


@dataclass
class Input:
    name: str
    type: str = "any"
    optional: bool = False
    default: object = _MISSING
    description: str | None = None

    @property
    def has_default(self) -> bool:
        return self.default is not _MISSING

    def to_json(self) -> dict:
        out = {"name": self.name, "type": self.type, "optional": self.optional,
               "description": self.description}
        if self.has_default:
            out["default"] = self.default
        return out


@dataclass
class PromptDoc:
    path: str
    format: str
    text: str
    engine: str | None
    has_front_matter: bool = False
    front_matter: str = ""
    meta: dict = field(default_factory=dict)
    error: tuple[int, str] | None = None  # (line, message) when the front matter is bad
    body: str = ""  # the template the engine renders
    body_offset: int = 0  # where the raw body starts in text
    body_line: int = 1  # the file line of the first line of `body`
    inputs: dict[str, Input] | None = None  # None: the format declares none
    model: str | None = None
    parameters: dict = field(default_factory=dict)
    sample: dict = field(default_factory=dict)
    loose_defaults: dict = field(default_factory=dict)  # input.default without a schema

    def defaults(self) -> dict:
        return {n: i.default for n, i in (self.inputs or {}).items() if i.has_default}

    @property
    def roles(self) -> list[str]:
        """The chat roles the body declares, in order (role lines or {{role}} helpers)."""
        if self.format == "prompty":
            return [m.group(1).lower() for m in ROLE_LINE.finditer(self.body)]
        if self.engine == "handlebars":
            return re.findall(r"\{\{~?\s*role\s+[\"']([a-z]+)[\"']", self.body)
        return []

    def file_line(self, body_line: int) -> int:
        return self.body_line + max(body_line, 1) - 1


def format_of(path: str) -> str:
    name = path.rsplit("/", 1)[-1].lower()
    dot = name.rfind(".")
    return EXTENSIONS.get(name[dot:], "text") if dot > 0 else "text"


def parse(data: bytes | str, path: str) -> PromptDoc:
    """Parse a prompt file. Problems in the front matter land in `doc.error`, never raise."""
    text = data if isinstance(data, str) else data.decode("utf-8", "replace")
    fmt = format_of(path)
    doc = PromptDoc(path, fmt, text, ENGINES[fmt], body=text)
    if fmt == "data":
        return doc
    _split_front_matter(doc)
    if doc.has_front_matter and doc.error is None:
        _read_meta(doc)
    if fmt == "dotprompt" and doc.has_front_matter:  # Dotprompt strips the body
        lead = len(doc.body) - len(doc.body.lstrip())
        doc.body_line += doc.body.count("\n", 0, lead)
        doc.body = doc.body.strip()
    return doc


def _split_front_matter(doc: PromptDoc) -> None:
    text = doc.text
    first_end = text.find("\n")
    first = text if first_end < 0 else text[:first_end]
    if not _FENCE.fullmatch(first.lstrip("\ufeff")):
        return
    pos = first_end + 1 if first_end >= 0 else len(text)
    line_no = 2
    while pos <= len(text):
        end = text.find("\n", pos)
        line = text[pos:] if end < 0 else text[pos:end]
        if _FENCE.fullmatch(line):
            doc.has_front_matter = True
            doc.front_matter = text[first_end + 1:pos]
            doc.body_offset = len(text) if end < 0 else end + 1
            doc.body = text[doc.body_offset:]
            doc.body_line = line_no + 1
            return
        if end < 0:
            break
        pos = end + 1
        line_no += 1
    if doc.format in ("dotprompt", "prompty"):  # these formats require the closing fence
        doc.has_front_matter = True
        doc.error = (1, "front matter has no closing '---' line")
        doc.body = ""


def _read_meta(doc: PromptDoc) -> None:
    import yaml

    # yaml.safe_load's loader, compiled (libyaml) when PyYAML has it: same tags, 5-10x faster
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        meta = yaml.load(doc.front_matter, Loader=loader)  # noqa: S506 - a safe loader
    except yaml.YAMLError:
        meta = None
    else:
        loader = None
    if loader is not None:  # explain with the pure-Python parser: one wording everywhere
        try:
            meta = yaml.safe_load(doc.front_matter)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = 2 + (mark.line if mark is not None else 0)
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            doc.error = (line, f"front matter does not parse: {problem}")
            return
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        doc.error = (2, f"front matter is a {type(meta).__name__}, not a mapping of keys")
        return
    doc.meta = meta
    try:
        _interpret(doc, meta)
    except ValueError as exc:
        doc.error = (_key_line(doc, "input") or 2, f"front matter: {exc}")


def _interpret(doc: PromptDoc, meta: dict) -> None:
    from . import picoschema

    model = meta.get("model")
    if isinstance(model, dict):  # prompty
        conf = model.get("configuration")
        cfg = conf if isinstance(conf, dict) else {}
        name = cfg.get("model") or cfg.get("azure_deployment") or cfg.get("name") or model.get("name")
        doc.model = None if name is None else str(name)
        params = model.get("parameters")
        doc.parameters = dict(params) if isinstance(params, dict) else {}
    elif model is not None:
        doc.model = str(model)
    if isinstance(meta.get("config"), dict):  # dotprompt
        doc.parameters = dict(meta["config"])
    elif isinstance(meta.get("parameters"), dict) and not doc.parameters:
        doc.parameters = dict(meta["parameters"])
    for key in PARAMETER_KEYS:
        if key in meta and key not in doc.parameters:
            doc.parameters[key] = meta[key]
    if isinstance(meta.get("sample"), dict):
        doc.sample = dict(meta["sample"])

    inp = meta.get("input")
    inputs: dict[str, Input] | None = None
    if isinstance(inp, dict):
        defaults = inp.get("default") if isinstance(inp.get("default"), dict) else {}
        if "schema" in inp:
            try:
                fields = picoschema.parse(inp["schema"])
            except picoschema.SchemaError as exc:
                raise ValueError(str(exc)) from None
            if not isinstance(inp["schema"], str):
                inputs = {f.name: Input(f.name, f.type, f.optional, description=f.description)
                          for f in fields}
        if defaults:
            for name, value in defaults.items():
                if inputs is not None and str(name) in inputs:
                    inputs[str(name)].default = value
                elif inputs is not None:
                    inputs[str(name)] = Input(str(name), optional=True, default=value)
            if inputs is None:  # defaults but no schema: they still apply when rendering
                doc.loose_defaults = dict(defaults)
    declared = meta.get("inputs")
    if isinstance(declared, dict):
        inputs = inputs or {}
        for name, spec in declared.items():
            name = str(name)
            if isinstance(spec, dict):
                i = Input(name, str(spec.get("type", "any")), bool(spec.get("optional", False)),
                          description=spec.get("description"))
                if "default" in spec:
                    i.default = spec["default"]
                    i.optional = True
            else:
                i = Input(name, str(spec) if spec is not None else "any")
            inputs[name] = i
    elif isinstance(declared, list):
        inputs = inputs or {}
        for name in declared:
            inputs[str(name)] = Input(str(name))
    doc.inputs = inputs


def _key_line(doc: PromptDoc, key: str) -> int | None:
    for i, line in enumerate(doc.front_matter.splitlines()):
        if re.match(rf"\s*{re.escape(key)}\??\s*(\([^)]*\))?\s*:", line):
            return 2 + i
    return None


def input_line(doc: PromptDoc, name: str) -> int:
    """The front matter line that declares input NAME (for `pvc check`)."""
    lines = doc.front_matter.splitlines()
    start = None
    for i, line in enumerate(lines):
        if re.match(r"\s*(schema|inputs)\s*:", line):
            start = i
            break
    if start is None:
        return 2
    item = re.compile(rf"\s*(-\s*)?{re.escape(name)}\??\s*(\([^)]*\))?\s*(:|$)")
    for i in range(start, len(lines)):
        if item.match(lines[i]):
            return 2 + i
    return 2 + start


def defaults_of(doc: PromptDoc) -> dict:
    out = dict(doc.loose_defaults)
    out.update(doc.defaults())
    return out
