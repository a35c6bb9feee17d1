"""Make benchmark runs measure what users run: compiled bytecode, no debug settings.

Some environments set PYTHONDONTWRITEBYTECODE, which makes every CLI start recompile
pvc's modules (about 20 ms). An installed pvc has its .pyc files; so does a benchmark.
"""

from __future__ import annotations

import compileall
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def prepare() -> None:
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    for folder in ("promptvc", "daemon", "tui"):
        compileall.compile_dir(str(ROOT / folder), quiet=1)
