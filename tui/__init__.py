"""The Textual TUI (installed as promptvc.tui)."""
