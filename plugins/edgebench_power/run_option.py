"""``edgebench run --power METER[:OPTIONS]``: checked before the run, handed to the harness in $EDGEBENCH_POWER."""

from __future__ import annotations

import functools
import os
from typing import Any

ENV = "EDGEBENCH_POWER"


def add_power_option(cli: Any) -> None:
    import click

    run = cli.commands.get("run")
    if run is None or any(p.name == "power" for p in run.params):
        return
    run.params.append(click.Option(
        ["--power", "power"], metavar="METER[:OPTIONS]", default=None,
        help="Measure energy per inference with a power meter: battery (Android), um25c:PORT, um34c:PORT, "
             "serial-csv:PORT[,columns=ms:mV:mA] (docs/energy.md)."))
    original = run.callback

    @functools.wraps(original)
    def callback(*args: Any, **kwargs: Any) -> Any:
        spec = kwargs.pop("power", None)
        if spec is None:
            return original(*args, **kwargs)
        from edgebench.energy import parse_spec
        from edgebench.errors import EdgebenchError
        from edgebench.plugins import power_meters

        try:  # a bad name or option: one line before anything is exported or stored
            name, _ = parse_spec(spec)
            power_meters.get(name)
        except EdgebenchError as exc:
            raise click.BadParameter(str(exc), param_hint="--power") from None
        saved = os.environ.get(ENV)
        os.environ[ENV] = spec
        try:
            return original(*args, **kwargs)
        finally:
            if saved is None:
                os.environ.pop(ENV, None)
            else:
                os.environ[ENV] = saved

    run.callback = callback
