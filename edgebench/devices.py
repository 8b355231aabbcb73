"""Device profiles: TOML files naming a transport and how to run on the device.

Built-in profiles ship inside the package (``edgebench/profiles``); users add their own in the
user config dir (``edgebench devices --path`` prints it) or pass ``--devices-dir``. A user
profile with the same name replaces the built-in one.

A profile::

    name = "pixel"                 # defaults to the file name
    transport = "adb"              # a registered transport
    description = "Google Pixel 7"
    python = "python3"             # interpreter for the runner on the device
    threads = 4                    # runtime threads (0: runtime default)
    affinity = "f0"                # taskset mask for the big cores, where supported
    delegates = ["cpu", "xnnpack", "nnapi", "gpu"]
    [options]                      # transport-specific: serial, host, port, user, key, baud...
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import EdgebenchError, UnknownName



@dataclass
class DeviceProfile:
    name: str
    transport: str
    description: str = ""
    python: str = "python3"
    threads: int = 0
    affinity: str | None = None
    delegates: tuple[str, ...] = ("cpu",)
    thermal: bool = True
    options: dict[str, Any] = field(default_factory=dict)
    source: Path | None = None

    @classmethod
    def from_file(cls, path: Path) -> "DeviceProfile":
        try:
            data = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise EdgebenchError(f"device profile {path} is not valid TOML: {exc}") from None
        known = {"name", "transport", "description", "python", "threads", "affinity", "delegates", "thermal", "options"}
        unknown = set(data) - known
        if unknown:
            raise EdgebenchError(f"device profile {path}: unknown keys {sorted(unknown)}")
        if "transport" not in data:
            raise EdgebenchError(f"device profile {path}: 'transport' is required")
        data.setdefault("name", path.stem)
        data["delegates"] = tuple(data.get("delegates", ("cpu",)))
        return cls(**data, source=path)

    def transport_obj(self):  # type: ignore[no-untyped-def]
        from .plugins import transports

        return transports.get(self.transport)(self)


def builtin_devices_dir() -> Path:
    """The repository's top-level devices/ folder, installed as the package edgebench.profiles."""
    from importlib.resources import files

    try:
        return Path(str(files("edgebench.profiles")))
    except ModuleNotFoundError:  # running from a source checkout without installing
        return Path(__file__).resolve().parent.parent / "devices"


def user_devices_dir() -> Path:
    env = os.environ.get("EDGEBENCH_DEVICES_DIR")
    if env:
        return Path(env)
    from platformdirs import user_config_dir

    return Path(user_config_dir("edgebench")) / "devices"


def load_profiles(extra_dirs: list[Path] | None = None) -> dict[str, DeviceProfile]:
    """Every profile: built-in, then the user's dir, then ``extra_dirs`` (later ones win)."""
    profiles: dict[str, DeviceProfile] = {}
    for folder in [builtin_devices_dir(), user_devices_dir(), *(extra_dirs or [])]:
        if folder.is_dir():
            for path in sorted(folder.glob("*.toml")):
                profile = DeviceProfile.from_file(path)
                profiles[profile.name] = profile
    return profiles


def get_profile(name: str, extra_dirs: list[Path] | None = None) -> DeviceProfile:
    profiles = load_profiles(extra_dirs)
    if name not in profiles:
        raise UnknownName("device", name, list(profiles))
    return profiles[name]
