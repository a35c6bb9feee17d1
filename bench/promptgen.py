"""Prompt-like text and realistic small edits, for benchmarks (deterministic per seed)."""

from __future__ import annotations

import random

WORDS = (
    "you are a helpful assistant answer the user question clearly and briefly always cite the "
    "source document when you can never invent facts if unsure say so politely use markdown "
    "lists for steps keep a friendly professional tone the customer may be frustrated so "
    "acknowledge their issue first then give the fix summarise long tickets in one line "
    "translate product names exactly respect the output json schema below return only valid "
    "json without comments think step by step but only show the final answer"
).split()


def sentence(rnd: random.Random) -> str:
    n = rnd.randint(6, 18)
    words = [rnd.choice(WORDS) for _ in range(n)]
    words[0] = words[0].capitalize()
    return " ".join(words) + rnd.choice([".", ".", ".", "!", "?"])


def paragraph(rnd: random.Random) -> str:
    return " ".join(sentence(rnd) for _ in range(rnd.randint(2, 6)))


def document(rnd: random.Random, target: int) -> str:
    """Markdown prompt of about TARGET bytes: headings, bullets, one-line paragraphs."""
    parts = [f"# {sentence(rnd)[:-1]}", ""]
    while sum(len(p) + 1 for p in parts) < target:
        kind = rnd.random()
        if kind < 0.15:
            parts += [f"## {sentence(rnd)[:-1]}", ""]
        elif kind < 0.45:
            parts += [f"- {sentence(rnd)}" for _ in range(rnd.randint(2, 6))] + [""]
        elif kind < 0.5:
            parts += ["{{ " + rnd.choice(["context", "question", "ticket", "history"]) + " }}", ""]
        else:
            parts += [paragraph(rnd), ""]
    return "\n".join(parts) + "\n"


def edit(rnd: random.Random, text: str) -> str:
    """One small realistic edit: a word, a sentence, a bullet, a line."""
    lines = text.split("\n")
    i = rnd.randrange(len(lines))
    kind = rnd.random()
    if kind < 0.4 and lines[i].strip():
        words = lines[i].split(" ")
        j = rnd.randrange(len(words))
        words[j] = rnd.choice(WORDS)
        lines[i] = " ".join(words)
    elif kind < 0.6:
        lines.insert(i, rnd.choice([f"- {sentence(rnd)}", sentence(rnd)]))
    elif kind < 0.75 and len(lines) > 10:
        del lines[i]
    elif lines[i].strip():
        lines[i] = lines[i] + " " + sentence(rnd)
    else:
        lines[i] = sentence(rnd)
    return "\n".join(lines)
