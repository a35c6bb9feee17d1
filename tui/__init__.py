"""The Textual TUI (installed as promptvc.tui).

Layer: a front end, and the one package that imports textual. All repository access
goes through tui/data.py (Repo's public methods, off the UI thread); the panes and screens
import data, render and each other, never the store.
"""
