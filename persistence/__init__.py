"""persistence room: see DESIGN.md."""
