"""`edgebench plugin new`: write a plugin package skeleton (being written)."""
