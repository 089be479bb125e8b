"""The textual run view: `upgrader watch` and `upgrader apply --tui` (docs/tui.md)."""
