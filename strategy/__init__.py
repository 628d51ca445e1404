"""strategy room: see DESIGN.md."""
