"""The app's stylesheet (inline, so it ships with the Python modules)."""

APP_CSS = """
#main {
    layout: grid;
    grid-size: 2 2;
    grid-columns: 26 1fr;
    grid-rows: 1fr 1fr;
    height: 1fr;
}
.pane {
    border: round $foreground 25%;
    border-title-color: $text-muted;
    border-subtitle-color: $text-muted;
    background: $surface;
    height: 1fr;
}
.pane:focus-within {
    border: round $border;
    border-title-color: $text;
    border-title-style: bold;
}
.pane > OptionList, .pane > DataTable {
    border: none;
    height: 1fr;
    background: transparent;
    padding: 0;
}
.pane > OptionList:focus, .pane > DataTable:focus {
    border: none;
    background-tint: transparent;
}
#log-table {
    scrollbar-size-horizontal: 0;
}
#files-list {
    text-wrap: nowrap;
    text-overflow: ellipsis;
}
#viewer {
    padding: 0 1;
}
#status {
    height: 1;
    background: $panel;
    color: $text;
    padding: 0 1;
    text-wrap: nowrap;
    text-overflow: ellipsis;
}
PromptScreen, HelpScreen {
    align: center middle;
}
#prompt-box {
    width: 72;
    max-width: 95%;
    height: auto;
    border: round $border;
    background: $surface;
    padding: 0 1;
}
#prompt-box > Input {
    margin: 1 0 0 0;
}
#prompt-hint {
    width: 100%;
    color: $text-muted;
    margin: 0 0 1 0;
}
#prompt-hint.-error {
    color: $text-error;
}
#help-box {
    width: 86;
    max-width: 100%;
    height: auto;
    max-height: 100%;
    padding: 0 1;
    border: round $border;
    background: $surface;
}
"""
