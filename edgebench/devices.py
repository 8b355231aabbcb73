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
    keys = ["tensor-g2", "pixel-7"]  # what a farm matches besides the name ("any Tensor G2")
    [health]                       # the farm's probe before each lease
    max_temp_c = 80                # hottest thermal zone must be below this
    min_free_mb = 200              # free storage in the device's work dir
    [options]                      # transport-specific: serial, host, port, user, key, baud...

Device groups live next to the user's profiles in ``groups.toml`` (one list per group)::

    lab = ["pixel", "rpi4", "rpi5"]

``edgebench run --device lab`` then measures on all three.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import EdgebenchError, UnknownName

GROUPS_FILE = "groups.toml"  # device groups, next to the user's profiles

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
    keys: tuple[str, ...] = ()
    health: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    source: Path | None = None

    @classmethod
    def from_file(cls, path: Path) -> "DeviceProfile":
        try:
            data = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise EdgebenchError(f"device profile {path} is not valid TOML: {exc}") from None
        known = {"name", "transport", "description", "python", "threads", "affinity", "delegates", "thermal", "keys",
                 "health", "options"}
        unknown = set(data) - known
        if unknown:
            raise EdgebenchError(f"device profile {path}: unknown keys {sorted(unknown)}")
        if "transport" not in data:
            raise EdgebenchError(f"device profile {path}: 'transport' is required")
        data.setdefault("name", path.stem)
        data["delegates"] = tuple(data.get("delegates", ("cpu",)))
        data["keys"] = tuple(str(k) for k in data.get("keys", ()))
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
                if path.name == GROUPS_FILE:
                    continue
                profile = DeviceProfile.from_file(path)
                profiles[profile.name] = profile
    return profiles


def get_profile(name: str, extra_dirs: list[Path] | None = None) -> DeviceProfile:
    profiles = load_profiles(extra_dirs)
    if name not in profiles:
        raise UnknownName("device", name, list(profiles))
    return profiles[name]


def device_groups(extra_dirs: list[Path] | None = None) -> dict[str, list[str]]:
    """Groups from ``groups.toml`` in the user's folder and ``extra_dirs`` (later ones win)."""
    groups: dict[str, list[str]] = {}
    for folder in [user_devices_dir(), *(extra_dirs or [])]:
        path = Path(folder) / GROUPS_FILE
        if not path.is_file():
            continue
        try:
            data = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise EdgebenchError(f"device groups {path} are not valid TOML: {exc}") from None
        for name, members in data.items():
            if not isinstance(members, list) or not members or not all(isinstance(m, str) for m in members):
                raise EdgebenchError(f"device groups {path}: {name!r} must be a non-empty list of device names")
            groups[name] = list(members)
    return groups


def expand_devices(names: list[str] | tuple[str, ...], extra_dirs: list[Path] | None = None) -> list[str]:
    """Device names with groups replaced by their members, each device once, in order given."""
    groups = device_groups(extra_dirs)
    out: list[str] = []
    for name in names:
        for member in groups.get(name, [name]):
            if member not in out:
                out.append(member)
    return out
