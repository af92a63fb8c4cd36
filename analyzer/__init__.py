"""wirelens: everything beyond pure dissection — sources, analysis, filters, CLI, TUI."""
