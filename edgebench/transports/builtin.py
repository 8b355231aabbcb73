"""The built-in transports, registered through the hook like any plugin's."""

from __future__ import annotations

from ..hookspecs import hookimpl
from .adb import AdbTransport
from .local import LocalTransport
from .serial import SerialTransport
from .ssh import SshTransport


@hookimpl
def edgebench_register_transports(register):  # type: ignore[no-untyped-def]
    register("local", LocalTransport)
    register("adb", AdbTransport)
    register("ssh", SshTransport)
    register("serial", SerialTransport)
