"""``python -m edgebench``: the same as the ``edgebench`` command."""

from .cli import main

main()
