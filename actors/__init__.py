"""actors room: see DESIGN.md."""
