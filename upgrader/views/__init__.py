"""Views over roll events: the rich live table (the TUI builds on the same events)."""
