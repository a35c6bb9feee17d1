"""pvc: Git-style version control for LLM prompts, stored in libSQL."""

__version__ = "0.1.0"
