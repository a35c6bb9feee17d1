"""Project-wide rules: light CLI start-up, layering, every command documented."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parent.parent
SQL_PATTERNS = (r"\bSELECT\s+[\w*,. ()]+\s+FROM\s+\w+", r"\bINSERT\s+(OR\s+\w+\s+)?INTO\s+\w+",
                r"\bUPDATE\s+\w+\s+SET\b", r"\bDELETE\s+FROM\s+\w+", r"\bCREATE\s+TABLE\b")
HEAVY = ("textual", "watchdog", "diff_match_patch", "libsql_experimental", "merge3", "rich",
         "jinja2", "yaml", "wordllama", "numpy", "pathspec")


def test_cli_import_does_not_load_heavy_modules():
    code = ("import sys; import promptvc.cli.main; "
            f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_version_does_not_load_heavy_modules():
    code = ("import sys\nfrom promptvc.cli.main import main\ntry:\n    main(['--version'])\n"
            "except SystemExit:\n    pass\n"
            f"print('LOADED', ' '.join(m for m in {HEAVY!r} + ('promptvc.repo',) if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines()[-1].strip() == "LOADED"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def _sources(*folders: str):
    for folder in folders:
        yield from (ROOT / folder).rglob("*.py")


def test_layers():
    """Only the store holds SQL / the libSQL client; only CLI and TUI use click / textual;
    only the daemon uses watchdog."""
    for path in _sources("promptvc", "daemon", "tui"):
        rel = path.relative_to(ROOT).as_posix()
        imports = _imports(path)
        if "libsql_experimental" in imports:
            assert rel.startswith(("promptvc/store/", "daemon/")), rel
        if "click" in imports:
            assert rel.startswith("promptvc/cli/"), rel
        if "textual" in imports:
            assert rel.startswith("tui/"), rel
        if "watchdog" in imports:
            assert rel.startswith("daemon/"), rel
        if not rel.startswith("promptvc/store/"):
            text = path.read_text(encoding="utf-8")
            for pattern in SQL_PATTERNS:
                m = re.search(pattern, text)
                assert m is None, f"SQL ({m.group(0)!r}) outside the store: {rel}"


def test_front_ends_read_through_repo_not_the_store():
    """The CLI, daemon and TUI use Repo's public methods; `repo.store` is the library's."""
    found = []
    for path in _sources("promptvc/cli", "daemon", "tui"):
        rel = path.relative_to(ROOT).as_posix()
        for n in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(n, ast.Attribute) and n.attr == "store":
                found.append(f"{rel}:{n.lineno}: {ast.unparse(n)}")
    assert found == []


def test_no_private_names_across_modules():
    """Nothing calls another module's underscore names: no `obj._name` on anything but
    `self`/`cls` (or an object of the same module's own class, as a constructor sets up
    one), and no `from x import _name`."""
    own_classes: dict[str, set[str]] = {}
    found = []
    for path in _sources("promptvc", "daemon", "tui"):
        rel = path.relative_to(ROOT).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        own_classes[rel] = {n.name for n in ast.walk(tree) if isinstance(n, ast.ClassDef)}
        # names bound in this module to an instance of its own class (`src = cls(...)`,
        # `src = PromptSource.__new__(PromptSource)`)
        own = set()
        for n in ast.walk(tree):
            if isinstance(n, ast.Assign) and isinstance(n.value, ast.Call):
                f = n.value.func
                callee = f.id if isinstance(f, ast.Name) else (
                    f.value.id if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name)
                    else None)
                if callee in own_classes[rel] | {"cls"}:
                    own.update(t.id for t in n.targets if isinstance(t, ast.Name))
        for n in ast.walk(tree):
            if isinstance(n, ast.Attribute) and n.attr.startswith("_") \
                    and not n.attr.startswith("__"):
                v = n.value
                if isinstance(v, ast.Name) and (v.id in ("self", "cls", "os") or v.id in own):
                    continue  # os._exit: the one stdlib name of this kind in use
                if isinstance(v, ast.Call) and isinstance(v.func, ast.Name) \
                        and v.func.id == "super":
                    continue
                if rel == "promptvc/remote/http.py" and n.attr == "_pvc_proxy_headers":
                    continue  # our own attribute on an http.client connection
                found.append(f"{rel}:{n.lineno}: {ast.unparse(n)}")
            elif isinstance(n, ast.ImportFrom):
                found.extend(f"{rel}:{n.lineno}: from {n.module} import {a.name}"
                             for a in n.names if a.name.startswith("_")
                             and not a.name.startswith("__"))
    assert found == []


MAX_MODULE_LINES = 600


def test_long_modules_say_why():
    """A module over MAX_MODULE_LINES lines says why in its docstring (a line starting with
    "Size:"); otherwise it is split along its seams."""
    found = []
    for path in _sources("promptvc", "daemon", "tui"):
        text = path.read_text(encoding="utf-8")
        lines = text.count("\n")
        if lines <= MAX_MODULE_LINES:
            continue
        doc = ast.get_docstring(ast.parse(text)) or ""
        if not any(line.startswith("Size:") for line in doc.splitlines()):
            found.append(f"{path.relative_to(ROOT).as_posix()}: {lines} lines, no 'Size:' reason")
    assert found == []


def _all_commands():
    from promptvc.cli.main import cli

    ctx = click.Context(cli)

    def walk(group: click.Group, prefix: str):
        for name in group.list_commands(ctx):
            cmd = group.get_command(ctx, name)
            full = f"{prefix} {name}".strip()
            yield full, cmd
            if isinstance(cmd, click.Group):
                yield from walk(cmd, full)

    return list(walk(cli, ""))


def test_every_command_has_help_and_is_documented():
    docs = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    missing_help, missing_docs = [], []
    for name, cmd in _all_commands():
        if not (cmd.help or "").strip():
            missing_help.append(name)
        if f"### `pvc {name}`" not in docs:
            missing_docs.append(name)
    assert missing_help == []
    assert missing_docs == []


def test_readme_gives_run_and_test_commands():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "./scripts/test" in readme
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "./scripts/test" in ci
