"""pytest helpers for edgebench plugin authors (fixtures, virtual devices)."""
