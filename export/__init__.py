"""cnninterp-export: the headless front end (scripts, clusters) over the same core as the TUI.

`cli` parses and checks the call, `image` writes one image's .npz and .json, `progress`
reports on stderr; around them `resume` skips what is already complete, `summary` writes the
dataset's summary.csv and `cluster` runs one Ray task per image. Like `tui/`, it sits above
`jaxcore` and may use rich; torch comes in only when a .pth must be converted
(`jaxcore.opening`).
"""
