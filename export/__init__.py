"""cnninterp-export: the headless front end (scripts, clusters) over the same core as the TUI.

`cli` parses and checks the call, `image` writes one image's .npz and .json, `progress`
reports on stderr. Like `tui/`, it sits above `jaxcore` and may use rich; torch comes in only
when a .pth must be converted (`jaxcore.opening`).
"""
