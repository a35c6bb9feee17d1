"""Command-line interface (click).

Layer: the outermost front end. A command module may import click and any public name
of promptvc; heavy modules (textual, watchdog, yaml, jinja2, rich, ...) and promptvc.repo only
inside the command functions that need them, so `pvc --version` stays light
(tests/test_meta.py). Commands use a repository through Repo's public methods, never
repo.store.
"""
