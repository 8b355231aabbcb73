"""edgebench plugin (work in progress)."""
