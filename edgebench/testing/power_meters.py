"""Serial power meters for tests: the real protocol on a pty, the power of a :class:`LoadPower`.

``socat`` joins two ptys: edgebench opens ``port`` with pyserial like a meter's (Bluetooth-)serial
port; this module speaks the meter's side on the other one.

* :class:`RdtechStandIn` answers each ``0xF0`` request with the 130-byte big-endian record of an
  RDTech UM24C/UM25C/UM34C (the layout of rdserialtool's ``rdserial/um/__init__.py``: model id at 0,
  voltage at 2, current at 4, power in mW at 6, ..., 0x8068 at 128);
* :class:`CsvStandIn` prints ``t,mV,mA`` lines as an Arduino with an INA219 would, ``t`` in ms on the
  microcontroller's own clock (it started at another time than the host's).

``kill()`` pulls the cable: socat dies, the port disappears, the next read fails.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import threading
import time
from pathlib import Path

from .power_load import LoadPower

# model id (offset 0) -> (volts per voltage step, amps per current step), from rdserialtool
RDTECH = {"UM24C": (0x0963, 0.01, 0.001), "UM25C": (0x09C9, 0.001, 0.0001), "UM34C": (0x0D4C, 0.01, 0.001)}
USB_VOLTS = 5.08


class _PtyPair:
    """socat with two linked ptys: ``port`` for the client, ``inner`` for the stand-in."""

    def __init__(self, workdir: str | os.PathLike[str], name: str):
        self.workdir = Path(workdir).resolve()
        if not re.fullmatch(r"[A-Za-z0-9_./-]+", str(self.workdir)):
            raise ValueError(f"socat addresses need a plain path: {self.workdir}")
        self.port, self.inner = str(self.workdir / name), str(self.workdir / f"{name}.meter")
        self.proc: subprocess.Popen[bytes] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.fd: int | None = None

    def start(self) -> None:
        if shutil.which("socat") is None:
            raise RuntimeError("socat is not installed (apt install socat)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(["socat", f"PTY,link={self.inner},raw,echo=0", f"PTY,link={self.port},raw,echo=0"],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        deadline = time.monotonic() + 10
        while not (os.path.exists(self.port) and os.path.exists(self.inner)):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"socat did not create {self.port}")
            time.sleep(0.02)
        self.fd = os.open(self.inner, os.O_RDWR | os.O_NOCTTY)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        raise NotImplementedError

    def kill(self) -> None:
        """Pull the cable."""
        self._stop.set()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        if self.fd is not None:
            try:
                os.close(self.fd)
            except OSError:
                pass
            self.fd = None

    def __enter__(self):  # type: ignore[no-untyped-def]
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()
        if self._thread is not None:
            self._thread.join(5)


def rdtech_record(model: str, volts: float, amps: float, temp_c: int = 25) -> bytes:
    """One 130-byte answer of an RDTech meter, big-endian, fields at rdserialtool's offsets."""
    model_id, v_step, a_step = RDTECH[model]
    data = bytearray(130)
    struct.pack_into(">HHHI", data, 0, model_id, round(volts / v_step), round(amps / a_step),
                     round(volts * amps * 1000))  # power in mW
    struct.pack_into(">HH", data, 10, temp_c, round(temp_c * 9 / 5 + 32))
    struct.pack_into(">H", data, 120, 4)  # screen brightness
    struct.pack_into(">I", data, 122, 99999)  # load resistance in 0.1 ohm (open)
    struct.pack_into(">H", data, 128, 0x8068)  # the end bytes real meters send
    return bytes(data)


class RdtechStandIn(_PtyPair):
    """A UM25C (or UM24C/UM34C) between a USB supply at ~5.08 V and the board, on ``port``."""

    def __init__(self, workdir: str | os.PathLike[str], load: LoadPower, model: str = "UM25C"):
        super().__init__(workdir, f"rfcomm-{model.lower()}")
        self.load, self.model = load, model
        self.requests = 0

    def _serve(self) -> None:
        assert self.fd is not None
        while not self._stop.is_set():
            try:
                byte = os.read(self.fd, 1)
            except OSError:
                return
            if byte != b"\xf0":  # other commands (screen, groups) are acknowledged by silence
                continue
            self.requests += 1
            watts = self.load.watts()
            volts = USB_VOLTS - 0.02 * watts  # a cable's drop
            try:
                os.write(self.fd, rdtech_record(self.model, volts, watts / volts))
            except OSError:
                return


class CsvStandIn(_PtyPair):
    """An INA219 on a microcontroller printing ``t_ms,mV,mA`` every ``period_s`` (after a banner)."""

    def __init__(self, workdir: str | os.PathLike[str], load: LoadPower, period_s: float = 0.02,
                 clock_offset_s: float = -1234.5, volts: float = 5.0):
        super().__init__(workdir, "ttyACM-ina219")
        self.load, self.period_s, self.volts = load, period_s, volts
        self.clock_offset_s = clock_offset_s  # the microcontroller's clock = host clock + this

    def _serve(self) -> None:
        assert self.fd is not None
        try:
            os.write(self.fd, b"INA219 ready\r\nt_ms,bus_mV,current_mA\r\n")  # a sketch's header lines
            while not self._stop.wait(self.period_s):
                mcu_ms = (time.time() + self.clock_offset_s) * 1000
                milliamps = self.load.watts() / self.volts * 1000
                os.write(self.fd, f"{mcu_ms:.0f},{self.volts * 1000:.0f},{milliamps:.2f}\r\n".encode())
        except OSError:
            return
