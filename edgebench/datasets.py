"""The built-in ``bundled`` dataset, registered through the hook like any plugin's.

Kept apart from :mod:`edgebench.data` so loading plugins does not import numpy.
"""

from __future__ import annotations

from .api import DatasetSpec
from .hookspecs import hookimpl


def _bundled_eval() -> list:
    from .data import photos

    return [hr for _, hr in photos("eval")]


@hookimpl
def edgebench_register_datasets(register):  # type: ignore[no-untyped-def]
    register(DatasetSpec(
        "bundled", load=_bundled_eval,
        description="4 held-out real photos shipped with edgebench (chelsea, china, flower, grace_hopper)",
    ))
