"""Errors edgebench reports to the user as one line.

Every failure a user can cause or meet (a bad name, a corrupt model, an unreachable device, a
timeout) is an :class:`EdgebenchError`; the CLI prints ``Error: <message>`` and exits non-zero.
Anything else is a bug: the CLI prints it as one line too (naming the plugin its traceback passes
through) unless :func:`debug_enabled`, when the full traceback is printed.
"""

from __future__ import annotations

import os
import sys


def debug_enabled() -> bool:
    """True under ``edgebench --debug`` or ``EDGEBENCH_DEBUG=1``: unexpected errors keep their traceback."""
    return os.environ.get("EDGEBENCH_DEBUG", "").strip().lower() not in ("", "0", "false", "no", "off")


class EdgebenchError(Exception):
    """Base class: the message is shown to the user as it is, on one line."""

    exit_code = 1


class UnknownName(EdgebenchError):
    """A model, backend, device, delegate or dataset name that nothing registered."""

    exit_code = 2

    def __init__(self, kind: str, name: str, choices: list[str] | tuple[str, ...]):
        self.kind, self.name, self.choices = kind, name, sorted(choices)
        listed = ", ".join(self.choices) or "none registered"
        # a plugin that failed to load is the likeliest reason a name the user expects is missing;
        # only consulted when plugins were loaded (sys.modules: errors must not import the plugin manager)
        plugins = sys.modules.get("edgebench.plugins")
        note = plugins.failed_providers_note(kind) if plugins is not None else ""
        super().__init__(f"unknown {kind} {name!r}; choose from: {listed}{note}")


class PluginError(EdgebenchError):
    """A plugin registered something invalid or raised inside a hook."""


class ExportError(EdgebenchError):
    """A model could not be exported or quantized for a backend."""


class ArtifactError(EdgebenchError):
    """A model artifact, weights file or image is missing or corrupt."""


class DeviceError(EdgebenchError):
    """A device could not be reached or a command on it failed."""


class DeviceUnreachable(DeviceError):
    """The device did not answer (not connected, refused, wrong key)."""


class DeviceTimeout(DeviceError):
    """A command on the device ran past its timeout."""


class BackendUnavailable(EdgebenchError):
    """A backend or delegate cannot run here (runtime not installed, delegate missing)."""


class PowerMeterError(EdgebenchError):
    """A power meter that cannot be used (bad option, missing port, a phone on its charger)."""
