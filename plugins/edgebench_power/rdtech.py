"""RDTech UM24C / UM25C / UM34C USB power meters over their (Bluetooth-)serial port.

Protocol (rdserialtool by Ryan Finnie, ``rdserial/um/__init__.py``; the same offsets in pyummeter's
tests): send the byte ``0xF0``; the meter answers with a 130-byte big-endian record. Offset 0: model id
(0x0963 UM24C, 0x09C9 UM25C, 0x0D4C UM34C); 2: voltage (u16; UM25C 1 mV steps, the others 10 mV);
4: current (u16; UM25C 0.1 mA steps, the others 1 mA); 6: power (u32, mW); 10/12: temperature °C/°F;
16-95: ten data groups (mAh, mWh); ...; 128: end bytes. Bluetooth SPP ports run at 9600 baud.

Power is taken as voltage x current (finer than the mW field). The model in the record decides the
units, whatever name the user gave: a UM34C answering ``--power um25c`` is read as a UM34C and said so.
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass

from edgebench.api import PowerMeter, PowerTrace, Transport
from edgebench.energy import float_option
from edgebench.errors import PowerMeterError

from .host_sampler import HostSampler, Reading

REQUEST = b"\xf0"
RECORD = 130
# model id -> (name, volts per step, amps per step)
MODELS = {0x0963: ("UM24C", 0.01, 0.001), 0x09C9: ("UM25C", 0.001, 0.0001), 0x0D4C: ("UM34C", 0.01, 0.001)}


@dataclass(frozen=True)
class UmReading:
    model: str
    volts: float
    amps: float
    watts_field: float  # the meter's own power figure (1 mW steps)

    @property
    def watts(self) -> float:
        return self.volts * self.amps


def decode(record: bytes) -> UmReading:
    """One 130-byte answer; a short or unknown record is an error that says what came."""
    if len(record) != RECORD:
        raise PowerMeterError(f"the meter answered {len(record)} bytes, not {RECORD}")
    model_id, volts, amps, milliwatts = struct.unpack_from(">HHHI", record, 0)
    if model_id not in MODELS:
        raise PowerMeterError(f"unknown RDTech model id 0x{model_id:04x} (known: UM24C, UM25C, UM34C)")
    name, v_step, a_step = MODELS[model_id]
    return UmReading(name, volts * v_step, amps * a_step, milliwatts / 1000.0)


class RdtechMeter(PowerMeter):
    """``um25c:PORT[,rate=HZ,baud=9600]``: the meter between the USB supply and the board."""

    model = "UM25C"
    description = "RDTech USB power meter over (Bluetooth-)serial"

    def __init__(self, options: dict[str, str], transport: Transport) -> None:
        super().__init__(options, transport)
        self.port = options.get("port", "")
        self.rate = float_option(options, "rate", 10.0, self.name)
        self.baud = int(float_option(options, "baud", 9600, self.name))
        self.found: str | None = None
        self._serial = None
        self._sampler: HostSampler | None = None

    def check(self) -> None:
        if not self.port:
            raise PowerMeterError(f"power meter {self.name} needs its serial port: --power {self.name}:/dev/rfcomm0")
        self._open()
        try:
            self.found = self._read_one().model
        finally:
            self._close()

    def _close(self) -> None:
        port, self._serial = self._serial, None
        if port is not None:
            try:
                port.close()
            except Exception:  # noqa: BLE001  a port already gone
                pass

    def _open(self) -> None:
        import serial  # pyserial: imported here, not at CLI start-up

        if self._serial is not None:
            return
        try:
            self._serial = serial.Serial(self.port, self.baud, timeout=1.0, write_timeout=1.0)
        except (serial.SerialException, OSError) as exc:
            raise PowerMeterError(f"power meter {self.name}: cannot open {self.port} ({exc})") from None

    def _read_one(self) -> UmReading:
        assert self._serial is not None
        self._serial.reset_input_buffer()
        self._serial.write(REQUEST)
        record = self._serial.read(RECORD)
        if len(record) < RECORD:
            raise PowerMeterError(f"power meter {self.name} on {self.port} did not answer (got {len(record)} bytes)")
        return decode(record)

    def _sample(self) -> list[Reading]:
        sent = time.time()
        reading = self._read_one()
        self.found = reading.model
        return [((sent + time.time()) / 2, reading.watts)]  # the meter sampled somewhere in the round trip

    def start(self) -> None:
        self._open()
        self._sampler = HostSampler(self._sample, self.rate)
        self._sampler.start()

    def stop(self) -> PowerTrace:
        sampler, self._sampler = self._sampler, None
        if sampler is not None:
            sampler.stop()
        error = sampler.error if sampler else "never started"
        self._close()  # opened again by the next start: a port unplugged meanwhile may be back
        model = self.found or self.model
        _, v_step, a_step = next(m for m in MODELS.values() if m[0] == model)
        units = {"model": model, "voltage": f"{v_step * 1000:g} mV", "current": f"{a_step * 1000:g} mA"}
        if model != self.model:
            units["note"] = f"a {model} answered as --power {self.name}: read with the {model}'s units"
        return PowerTrace(sampler.samples if sampler else [], clock="host", units=units,
                          resolution_w=5.0 * a_step, error=error)


class Um25cMeter(RdtechMeter):
    model = "UM25C"


class Um34cMeter(RdtechMeter):
    model = "UM34C"
