"""The whole plugin API of edgebench.

Every hook receives a ``register`` callback (or the click group) and fires once, the first time
edgebench needs what the hook provides. Registering a name twice is an error that names both
plugins. Objects are described in :mod:`edgebench.api`.
"""

from __future__ import annotations

from typing import Callable

import click
from pluggy import HookimplMarker, HookspecMarker

from .api import Backend, DatasetSpec, ModelSpec, PowerMeter, Transport

hookspec = HookspecMarker("edgebench")
hookimpl = HookimplMarker("edgebench")


@hookspec
def edgebench_register_backends(register: Callable[[Backend], None]) -> None:
    """Register runtimes: call ``register(backend)`` with a :class:`~edgebench.api.Backend` instance.

    One instance per runtime. Called the first time edgebench needs the backends (``run``,
    ``backends``, ``plugins``); a backend whose runtime is missing still registers and says why
    from ``version()``.
    """


@hookspec
def edgebench_register_models(register: Callable[[ModelSpec], None]) -> None:
    """Register super-resolution networks: call ``register(spec)`` with a :class:`~edgebench.api.ModelSpec`.

    Called the first time edgebench needs the models (``run``, ``models``, ``plugins``). Build
    nothing here: ``spec.build`` is called only when a model is exported.
    """


@hookspec
def edgebench_register_transports(register: Callable[[str, type[Transport]], None]) -> None:
    """Register ways to reach a device: ``register("adb", AdbTransport)``; profiles name them.

    Pass the :class:`~edgebench.api.Transport` subclass, not an instance: edgebench creates one
    per run from the device profile whose ``transport`` is that name.
    """


@hookspec
def edgebench_register_datasets(register: Callable[[DatasetSpec], None]) -> None:
    """Register evaluation photo sets: call ``register(spec)`` with a :class:`~edgebench.api.DatasetSpec`.

    ``edgebench run --dataset NAME`` uses it; ``spec.load`` is called only then.
    """


@hookspec
def edgebench_register_power_meters(register: Callable[[str, type[PowerMeter]], None]) -> None:
    """Register power meters: ``register("um25c", Um25cMeter)``; ``edgebench run --power NAME[:OPTIONS]`` picks one.

    Pass the :class:`~edgebench.api.PowerMeter` subclass, not an instance: edgebench creates one per
    run with the options after the colon and the run's transport.
    """


@hookspec
def edgebench_register_commands(cli: click.Group) -> None:
    """Add commands to the ``edgebench`` CLI: ``@cli.command()`` on the group passed in.

    Called when the CLI module is imported, for every command (``--help`` included): import
    heavy modules inside the command, not here.
    """
