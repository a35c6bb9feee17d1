"""Prompt-aware files: front matter, templates, includes and checks.

    formats   parse a prompt file (Markdown/text with YAML front matter, Dotprompt `.prompt`,
              `.prompty`, Jinja `.j2`/`.jinja`) into a PromptDoc: metadata, declared inputs,
              body; the stored bytes are never changed
    picoschema  Dotprompt's compact input schema: declared inputs, optional ones, types
    handlebars  the logic-less renderer for `{{var}}` and Dotprompt's Handlebars bodies
    render    one entry point that renders any format, with includes from one snapshot
    sources   where includes are read from: a commit's tree, or the working folder
    check     `pvc check`: every problem of a set of prompt files
    meta      metadata as data, and what changed in it between two versions

Nothing here imports PyYAML or Jinja2 at import time: they load when a file needs them.
"""
