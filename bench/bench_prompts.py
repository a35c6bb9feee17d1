"""Prompt-aware files benchmark (issue #16).

Prints, for each format, the p50/p99 of one warm render in process (`PromptSource.render`
on a local repository: read at a ref, includes from the same commit, cached template), beside
the same template rendered straight by the engine with no pvc around it; then the wall time
of `pvc check` over 1,000 prompt files (a real process, as a user or CI runs it).

    .venv/bin/python bench/bench_prompts.py [--renders 20000] [--files 1000]

Target: render p50 under 0.2 ms for a cached template.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("PVC_AUTHOR", "Bench <bench@example.com>")
os.environ["RUST_LOG"] = "off"

from benchenv import prepare  # noqa: E402

GREETING = """---
model: googleai/gemini-1.5-flash
config:
  temperature: 0.9
input:
  schema:
    location: string
    style?: string
    name?: string
    items?(array): string
    team: string
  default:
    location: a restaurant
---

You are the world's most welcoming AI assistant and are currently working at {{location}}.

Greet a guest{{#if name}} named {{name}}{{/if}}{{#if style}} in the style of {{style}}{{/if}}.
{{#each items}}- {{this}}
{{/each}}{{> sig}}
"""
PROMPTY = """---
name: Basic Prompt
model:
  api: chat
  configuration:
    azure_deployment: gpt-35-turbo
  parameters:
    temperature: 0.2
inputs:
  first_name:
    type: string
    default: John
  question:
    type: string
  history:
    type: list
---
system:
You are an AI assistant who helps people find information. You are helping {{first_name}}.
{% for item in history %}
{{ item.role }}:
{{ item.content }}
{% endfor %}
user:
{{question}}
"""
JINJA = """---
model: gpt-4o
inputs: [tone, discount, customer, team]
---
Tone: {{ tone | default("warm") }}.
{% if discount %}Offer {{ customer }} {{ discount }}% off.{% endif %}
{% include "footer.j2" %}
"""
MARKDOWN = "---\nmodel: gpt-4o-mini\ntemperature: 0.5\n---\n" + \
    "You help {{name}} with {{topic}}. Be brief and kind.\n" * 20

CASES = [
    ("dotprompt (.prompt)", "p/greeting.prompt",
     {"name": "Ada", "style": "a pirate", "items": ["a", "b", "c"], "team": "Support"}),
    (".prompty", "p/basic.prompty",
     {"question": "What is the capital of France?",
      "history": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}),
    ("jinja (.j2)", "p/offer.j2", {"discount": 10, "customer": "Bo", "team": "Support"}),
    ("markdown {{var}}", "p/support.md", {"name": "Ada", "topic": "billing"}),
]


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(q / 100 * (len(xs) - 1)))]


def pvc(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "promptvc", *args], cwd=cwd, check=check,
                          capture_output=True, text=True)


def timed(fn, n: int) -> list[float]:
    for _ in range(200):  # warm
        fn()
    out = []
    clock = time.perf_counter
    for _ in range(n):
        t0 = clock()
        fn()
        out.append(clock() - t0)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--renders", type=int, default=20000)
    ap.add_argument("--files", type=int, default=1000)
    args = ap.parse_args()
    prepare()
    from promptvc.prompts.formats import parse
    from promptvc.serve import PromptSource

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "repo"
        (root / "p").mkdir(parents=True)
        (root / "p" / "greeting.prompt").write_text(GREETING)
        (root / "p" / "_sig.prompt").write_text("-- {{team}}\n")
        (root / "p" / "basic.prompty").write_text(PROMPTY)
        (root / "p" / "offer.j2").write_text(JINJA)
        (root / "p" / "footer.j2").write_text("Thanks, {{ team }}\n")
        (root / "p" / "support.md").write_text(MARKDOWN)
        pvc(root, "init")
        pvc(root, "add", "p")
        pvc(root, "commit", "-m", "prompts")
        pvc(root, "tag", "production")

        print(f"render, warm, in process ({args.renders} renders each; times in ms)")
        print(f"{'format':<22} {'PromptSource p50':>16} {'p99':>8}   {'engine alone p50':>16} "
              f"{'p99':>8}")
        with PromptSource.local(root) as src:
            for label, path, variables in CASES:
                xs = timed(lambda: src.render(path, ref="production", **variables),
                           args.renders)
                eng = engine_alone(parse((root / path).read_bytes(), path), root, variables)
                ys = timed(eng, args.renders)
                print(f"{label:<22} {pct(xs, 50) * 1e3:>16.3f} {pct(xs, 99) * 1e3:>8.3f}   "
                      f"{pct(ys, 50) * 1e3:>16.3f} {pct(ys, 99) * 1e3:>8.3f}")

        many = Path(tmp) / "many"
        (many / "prompts").mkdir(parents=True)
        kinds = [("prompt", GREETING, "{{! file %d }}\n"), ("prompty", PROMPTY, "{# file %d #}\n"),
                 ("j2", JINJA, "{# file %d #}\n"), ("md", MARKDOWN, "file %d\n")]
        for i in range(args.files):  # every file different: no cache hit across files
            ext, text, tail = kinds[i % len(kinds)]
            text = text.replace("footer.j2", "_footer.j2") + tail % i
            (many / "prompts" / f"p{i:04d}.{ext}").write_text(text)
        (many / "prompts" / "_sig.prompt").write_text("-- {{team}}\n")
        (many / "prompts" / "_footer.j2").write_text("Thanks, {{ team }}\n")
        pvc(many, "init")
        pvc(many, "add", "prompts")
        walls = []
        for _ in range(3):
            t0 = time.perf_counter()
            r = pvc(many, "check", "--json", check=False)
            walls.append(time.perf_counter() - t0)
        import json

        report = json.loads(r.stdout)
        print(f"\npvc check over {report['checked']} prompt files: wall {min(walls):.2f} s "
              f"(best of 3; {len(report['problems'])} problems found)")


def engine_alone(doc, root: Path, variables: dict):
    """The same body rendered by its engine directly, to show what pvc adds."""
    context = {"location": "a restaurant", "first_name": "John", **variables}
    if doc.engine == "jinja":
        import jinja2
        from jinja2.sandbox import SandboxedEnvironment

        env = SandboxedEnvironment(loader=jinja2.FileSystemLoader(str(root / "p")),
                                   keep_trailing_newline=True)
        t = env.from_string(doc.body)
        return lambda: t.render(context)
    from promptvc.prompts.handlebars import Template

    t = Template(doc.body)
    partial = Template("-- {{team}}\n")
    return lambda: t.render(context, lambda name, line: partial)


if __name__ == "__main__":
    main()
