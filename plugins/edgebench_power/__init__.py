"""Power meters for ``edgebench run --power METER[:OPTIONS]``: energy per inference in mJ/frame.

* ``battery``: an Android phone's fuel gauge (``/sys/class/power_supply/battery``), sampled on the
  phone by a shell loop and pulled afterwards; refused while the phone charges.
* ``um25c`` / ``um34c``: RDTech USB power meters over (Bluetooth-)serial, their binary protocol.
* ``serial-csv``: a microcontroller with an INA219/INA226 printing ``t,mV,mA`` lines.

docs/energy.md has the wiring and the limits. Nothing heavy is imported here: the CLI must start fast.
"""

from __future__ import annotations

from typing import Any

from edgebench import hookimpl

__version__ = "0.1.0"


@hookimpl
def edgebench_register_power_meters(register: Any) -> None:
    from .battery import BatteryMeter
    from .rdtech import Um25cMeter, Um34cMeter
    from .serial_csv import SerialCsvMeter

    register("battery", BatteryMeter)
    register("um25c", Um25cMeter)
    register("um34c", Um34cMeter)
    register("serial-csv", SerialCsvMeter)


@hookimpl
def edgebench_register_commands(cli: Any) -> None:
    """Add ``--power METER[:OPTIONS]`` to ``edgebench run``."""
    from .run_option import add_power_option

    add_power_option(cli)
