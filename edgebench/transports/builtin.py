"""The built-in transports, registered through the hook like any plugin's."""

from __future__ import annotations

from ..hookspecs import hookimpl
from .local import LocalTransport


@hookimpl
def edgebench_register_transports(register):  # type: ignore[no-untyped-def]
    register("local", LocalTransport)
