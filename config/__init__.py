"""config room: see DESIGN.md."""
