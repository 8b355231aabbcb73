"""CPU clusters of a device and the affinity masks that pin a run to them.

Phones and many boards mix core types (big.LITTLE): the same model can take 172, 143 or 281 ms
under ``taskset ff``, ``f0`` or ``0f`` (tensorflow/tensorflow#29910). The clusters are found from
each CPU's ``cpufreq/cpuinfo_max_freq``: CPUs with equal maximum frequency form one cluster, and
the clusters are named by speed:

    1 cluster   all
    2 clusters  little, big
    3 clusters  little, mid, big
    4 or more   little, mid1, mid2, ..., big

Without cpufreq (VMs, containers, qemu) every CPU forms one cluster ``all`` with ``max_khz`` None.
A CPU whose frequency cannot be read (an offline core on an older kernel drops its cpufreq folder)
takes the frequency of a readable policy whose ``related_cpus`` names it; failing that it joins
the only cluster when there is one, else a trailing cluster ``unknown`` (``max_khz`` None), so the
``all`` mask always covers every CPU the device has.

Masks are taskset's: hex of the CPU set, lowercase, without ``0x`` (``f0`` = CPUs 4-7). A bare
number is a mask, as for taskset (``10`` is CPU 4); CPU lists need a ``-`` or ``,`` (``4-7``, ``0,2``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

from .api import Transport
from .errors import DeviceError, EdgebenchError

SYSFS = "/sys/devices/system/cpu"

# One POSIX sh line (toybox/mksh, busybox ash, dash): ``cpu N MAX_KHZ|- RELATED...`` per CPU, then
# the present (or possible) and online lists and nproc. Android may refuse to list the folder to
# some users while each cpuN stays readable: then count cpu0, cpu1, ... until one is missing.
CPU_SCRIPT = (
    "n=0; for c in " + SYSFS + "/cpu[0-9]*; do [ -d \"$c\" ] || continue; n=1; "
    "f=$(cat \"$c/cpufreq/cpuinfo_max_freq\" 2>/dev/null); "
    "echo \"cpu ${c##*/cpu} ${f:--} $(cat \"$c/cpufreq/related_cpus\" 2>/dev/null)\"; done; "
    "if [ $n = 0 ]; then i=0; while [ -d " + SYSFS + "/cpu$i ]; do "
    "f=$(cat " + SYSFS + "/cpu$i/cpufreq/cpuinfo_max_freq 2>/dev/null); "
    "echo \"cpu $i ${f:--} $(cat " + SYSFS + "/cpu$i/cpufreq/related_cpus 2>/dev/null)\"; i=$((i+1)); done; fi; "
    "echo \"present $(cat " + SYSFS + "/present 2>/dev/null || cat " + SYSFS + "/possible 2>/dev/null)\"; "
    "echo \"online $(cat " + SYSFS + "/online 2>/dev/null)\"; "
    "echo \"nproc $(nproc 2>/dev/null)\"")

NAMED = ("big", "mid", "little", "all")


class CpuSpecError(EdgebenchError):
    """A bad ``--affinity`` or ``--threads`` value, or one the device cannot honour."""

    exit_code = 2


@dataclass(frozen=True)
class Cluster:
    """CPUs that share one maximum frequency (kHz; None where cpufreq is not readable)."""

    name: str
    cpus: tuple[int, ...]
    max_khz: int | None

    @property
    def mask(self) -> str:
        return cpus_mask(self.cpus)


# -- CPU sets, masks and lists ----------------------------------------------------------------
def parse_cpu_list(text: str) -> list[int]:
    """The kernel's list format (``0-3,6,8-9``; also space separated, as related_cpus) -> CPUs."""
    cpus: set[int] = set()
    for item in re.split(r"[,\s]+", text.strip()):
        if not item:
            continue
        match = re.fullmatch(r"(\d+)(?:-(\d+))?", item)
        if match is None:
            raise ValueError(f"not a cpu list item: {item!r}")
        first, last = int(match.group(1)), int(match.group(2) or match.group(1))
        if last < first:
            raise ValueError(f"not a cpu range: {item!r}")
        cpus.update(range(first, last + 1))
    return sorted(cpus)


def format_cpu_list(cpus: Iterable[int]) -> str:
    """[0, 1, 2, 3, 6] -> '0-3,6' (the kernel's own spelling)."""
    ordered = sorted(set(cpus))
    runs: list[str] = []
    start = prev = None
    for cpu in ordered + [None]:  # a sentinel closes the last run
        if start is not None and (cpu is None or cpu != prev + 1):
            runs.append(str(start) if start == prev else f"{start}-{prev}")
            start = None
        if cpu is not None and start is None:
            start = cpu
        prev = cpu
    return ",".join(runs)


def mask_cpus(mask: str) -> list[int]:
    """Hex affinity mask (``f0``, ``0xF0``) -> the CPUs it names, ascending."""
    text = mask.strip().lower()
    text = text[2:] if text.startswith("0x") else text
    if not re.fullmatch(r"[0-9a-f]+", text):
        raise CpuSpecError(f"affinity mask {mask!r} is not hex")
    value = int(text, 16)
    return [bit for bit in range(value.bit_length()) if value >> bit & 1]


def cpus_mask(cpus: Iterable[int]) -> str:
    """CPUs -> taskset's hex mask, lowercase, no 0x, no leading zeros ('0' for none)."""
    value = 0
    for cpu in cpus:
        value |= 1 << cpu
    return format(value, "x")


# -- discovery --------------------------------------------------------------------------------
def _cluster_names(count: int) -> list[str]:
    if count == 1:
        return ["all"]
    if count == 2:
        return ["little", "big"]
    if count == 3:
        return ["little", "mid", "big"]
    return ["little", *(f"mid{i}" for i in range(1, count - 1)), "big"]


def _safe_list(text: str) -> list[int]:
    try:
        return parse_cpu_list(text)
    except ValueError:
        return []


def parse_cpus(text: str) -> list[Cluster]:
    """The output of :data:`CPU_SCRIPT` -> clusters sorted by max frequency (see the module doc)."""
    freqs: dict[int, int] = {}
    related: dict[int, list[int]] = {}
    listed: set[int] = set()
    present: list[int] = []
    nproc = 0
    for line in text.splitlines():
        key, _, rest = line.strip().partition(" ")
        if key == "cpu":
            parts = rest.split()
            if not parts or not parts[0].isdigit():
                continue
            cpu = int(parts[0])
            listed.add(cpu)
            if len(parts) > 1 and parts[1].isdigit() and int(parts[1]) > 0:
                freqs[cpu] = int(parts[1])
                related[cpu] = _safe_list(" ".join(parts[2:]))
        elif key in ("present", "possible") and not present:
            present = _safe_list(rest)
        elif key == "nproc" and rest.strip().isdigit():
            nproc = int(rest.strip())
    cpus = sorted(listed | set(present)) or list(range(nproc))
    if not cpus:
        return []
    # an offline core may have lost its cpufreq folder: a readable policy that names it still counts
    for cpu, siblings in related.items():
        for sibling in siblings:
            if sibling in cpus and sibling not in freqs:
                freqs[sibling] = freqs[cpu]
    unknown = tuple(c for c in cpus if c not in freqs)
    speeds = sorted(set(freqs.values()))
    if len(speeds) <= 1:  # one speed (or none known): one cluster holds every CPU
        return [Cluster("all", tuple(cpus), speeds[0] if speeds else None)]
    clusters = [Cluster(name, tuple(c for c in cpus if freqs.get(c) == khz), khz)
                for name, khz in zip(_cluster_names(len(speeds)), speeds)]
    if unknown:
        clusters.append(Cluster("unknown", unknown, None))
    return clusters


def discover(transport: Transport, timeout: float = 20.0) -> list[Cluster]:
    """The device's clusters, read through ``transport`` with one shell command."""
    result = transport.run(["sh", "-c", CPU_SCRIPT], timeout=timeout)
    clusters = parse_cpus(result.stdout) if result.returncode == 0 else []
    if not clusters:
        name = getattr(getattr(transport, "profile", None), "name", "?")
        why = (result.stderr or result.stdout).strip().splitlines()[-1:] or [f"exit status {result.returncode}"]
        raise DeviceError(f"could not read the cpus of device {name!r}: {why[0]}")
    return clusters


# -- describing and resolving -----------------------------------------------------------------
def _ghz(khz: int) -> str:
    return f"{khz / 1e6:.2f} GHz"


def describe(clusters: list[Cluster]) -> str:
    """``little 0-3 @1.80 GHz, mid 4-5 @2.35 GHz, big 6-7 @2.85 GHz`` (no @ without cpufreq)."""
    return ", ".join(f"{c.name} {format_cpu_list(c.cpus)}" + (f" @{_ghz(c.max_khz)}" if c.max_khz else "")
                     for c in clusters)


def _all_cpus(clusters: list[Cluster]) -> list[int]:
    return sorted({cpu for c in clusters for cpu in c.cpus})


def _has(clusters: list[Cluster]) -> str:
    """'it has cpus 0-7: little 0-3, big 4-7' (no breakdown for a single cluster)."""
    listed = f"it has {_plural(_all_cpus(clusters))}"
    if len(clusters) > 1:
        listed += ": " + ", ".join(f"{c.name} {format_cpu_list(c.cpus)}" for c in clusters)
    return listed


def _plural(cpus: list[int]) -> str:
    return f"cpu{'s' if len(cpus) > 1 else ''} {format_cpu_list(cpus)}"


def _by_name(spec: str, clusters: list[Cluster], device: str) -> str:
    name = spec.lower()
    if name == "all":
        return cpus_mask(_all_cpus(clusters))
    for cluster in clusters:
        if cluster.name == name:
            return cluster.mask
    if name == "mid":
        mids = [c.name for c in clusters if c.name.startswith("mid")]
        if mids:
            raise CpuSpecError(f"device {device!r} has {len(mids)} mid clusters: name one of {', '.join(mids)} "
                               f"({_has(clusters)})")
    if len(clusters) == 1:
        only = clusters[0]
        how = "run at one speed" if only.max_khz else "show no cpufreq, so they form one cluster"
        raise CpuSpecError(f"device {device!r} has no {name!r} cluster: its cpus "
                           f"{format_cpu_list(only.cpus)} {how} ({only.name})")
    raise CpuSpecError(f"device {device!r} has no {name!r} cluster ({_has(clusters)})")


def _is_cluster_name(name: str, clusters: list[Cluster]) -> bool:
    """A name this module gives clusters (none of them reads as hex), or one the device has."""
    return name in NAMED or name == "unknown" or bool(re.fullmatch(r"mid\d+", name)) \
        or name in {c.name for c in clusters}


def _spec_cpus(spec: str) -> list[int] | None:
    """The CPUs a mask or cpu list names; None when ``spec`` is neither."""
    text = spec.strip().lower()
    if re.fullmatch(r"(0x)?[0-9a-f]+", text):
        return mask_cpus(text)
    if re.fullmatch(r"\d+(-\d+)?([,\s]+\d+(-\d+)?)*", text) and re.search(r"[-,]", text):
        try:
            return parse_cpu_list(text)
        except ValueError:
            return None
    return None


def resolve_affinity(spec: str, clusters: list[Cluster], device: str) -> str:
    """``big|mid|little|all``, a cluster name, a hex mask or a cpu list -> a normalised hex mask.

    Raises :class:`CpuSpecError` (one line) for an empty or zero mask, CPUs the device does not
    have, a cluster name it has no cluster for, or text that is none of these.
    """
    text = spec.strip()
    if not text:
        raise CpuSpecError("affinity is empty: give big, mid, little, all, a hex mask (f0) or a cpu list (4-7)")
    if not clusters:
        raise CpuSpecError(f"device {device!r} reported no cpus, so affinity {text!r} cannot be checked")
    if _is_cluster_name(text.lower(), clusters):
        return _by_name(text, clusters, device)
    cpus = _spec_cpus(text)
    if cpus is None:
        raise CpuSpecError(f"affinity {text!r} is not big, mid, little, all, a cluster name, "
                           "a hex mask (f0) or a cpu list (4-7)")
    if not cpus:
        raise CpuSpecError(f"affinity {text!r} names no cpus")
    missing = sorted(set(cpus) - set(_all_cpus(clusters)))
    if missing:
        raise CpuSpecError(f"affinity {text} names {_plural(missing)}, which device {device!r} does not have "
                           f"({_has(clusters)})")
    return cpus_mask(cpus)


# -- threads and the sweep --------------------------------------------------------------------
def parse_threads(text: str) -> list[int]:
    """``--threads 1,2,4`` (or one count) -> [1, 2, 4]; 0 is the runtime's default; duplicates dropped."""
    items = [item.strip() for item in str(text).split(",")]
    if not any(items):
        raise CpuSpecError("--threads is empty: give counts such as 1,2,4 (0 = the runtime's default)")
    counts: list[int] = []
    for item in items:
        if not (item.isascii() and item.isdigit()):
            raise CpuSpecError(f"--threads item {item!r} is not a thread count "
                               "(0 = the runtime's default, or 1, 2, 4, ...)")
        if int(item) not in counts:
            counts.append(int(item))
    return counts


def sweep(affinities: list[str], threads: list[int]) -> list[tuple[str, int]]:
    """Every (affinity, threads) pair: affinities in the order given, each with every thread count."""
    pairs: list[tuple[str, int]] = []
    for affinity in affinities:
        for count in threads:
            if (affinity, count) not in pairs:
                pairs.append((affinity, count))
    return pairs


__all__ = ["CPU_SCRIPT", "Cluster", "CpuSpecError", "cpus_mask", "describe", "discover", "format_cpu_list",
           "mask_cpus", "parse_cpu_list", "parse_cpus", "parse_threads", "resolve_affinity", "sweep"]
