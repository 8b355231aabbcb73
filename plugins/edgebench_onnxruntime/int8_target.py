"""Which int8 recipe an ONNX Runtime artifact gets, decided by the CPU that will run it.

ONNX Runtime's x86-64 kernels for uint8 activations × int8 weights (u8s8) multiply with
``vpmaddubsw`` when the CPU has no VNNI: it adds each pair of u8×s8 products into a *saturating*
int16, so 255·127·2 = 64770 is clamped to 32767 and the layer's output is wrong where activations
and weights are both large ("When and why do I need to try U8U8?",
https://onnxruntime.ai/docs/performance/model-optimizations/quantization.html). With AVX512-VNNI or
AVX-VNNI (``vpdpbusd`` accumulates into int32) and on ARM (NEON widening multiplies, or
``sdot``/``udot``) nothing saturates.

Measured on an AVX2-only AMD EPYC (onnxruntime 1.32, bundled eval photos, int8 drop vs fp32):

============================  ========  =========
recipe                        abpn      scsrn
============================  ========  =========
u8s8 (saturates here)         0.162 dB  0.188 dB
u8s8-precise                  0.093 dB  0.143 dB
u8s8-reduce-range             0.100 dB  0.427 dB
u8u8                          0.093 dB  0.175 dB
s8s8                          0.093 dB  0.144 dB
============================  ========  =========

``u8s8-precise`` keeps the u8s8 file and asks ONNX Runtime, when it loads it, for
``session.x64quantprecision=1``: on an x86 CPU without VNNI it rewrites the int8 weights to uint8
(+128, exact) and runs its non-saturating u8u8 kernels; elsewhere the option does nothing. Its
numbers are the ones a VNNI CPU gets from the plain u8s8 file. ``reduce_range`` (7-bit weights)
cannot saturate but costs SCSRN 0.43 dB; ``u8u8`` requantizes the weights and costs SCSRN 0.18 dB;
``s8s8`` matched the exact result on these two models but saturated like u8s8 on a 64-channel
convolution stack (ONNX Runtime picks a different kernel there), so it is not the default.

This module must stay importable without onnxruntime: :meth:`Backend.cache_key` calls it.
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

RECIPE_ENV = "EDGEBENCH_ORT_INT8_RECIPE"  # force a recipe (or "auto")
CPUINFO_ENV = "EDGEBENCH_ORT_TARGET_CPUINFO"  # the target's /proc/cpuinfo (or lscpu) saved to a file

# flags in /proc/cpuinfo that give int8 dot products without 16-bit intermediates
X86_INT8_DOT = frozenset({"avx512_vnni", "avx_vnni"})
ARM_INT8_DOT = frozenset({"asimddp", "dotprod"})  # Linux hwcap name; "dotprod" in some listings
_X86_MARKERS = frozenset({"sse2", "ssse3", "avx", "avx2", "lm"})
_ARM_MARKERS = frozenset({"asimd", "neon", "vfp", "vfpv4", "evtstrm"})
_X86_MACHINES = {"x86_64", "amd64", "x64", "i386", "i686", "x86"}


@dataclass(frozen=True)
class Int8Recipe:
    """How the weights and activations are quantized, and what the runtime must be told."""

    name: str
    activations: str  # "u8" or "s8"
    weights: str  # "u8" or "s8"
    reduce_range: bool = False  # 7-bit weights
    session_options: Mapping[str, str] = field(default_factory=dict)  # SessionOptions config entries at load

    def describe(self) -> str:
        text = f"{self.weights} weights, {self.activations} activations"
        if self.reduce_range:
            text += ", 7-bit weights (reduce_range)"
        for key, value in self.session_options.items():
            text += f", {key}={value} at load"
        return text


RECIPES: dict[str, Int8Recipe] = {r.name: r for r in (
    Int8Recipe("u8s8", "u8", "s8"),
    Int8Recipe("u8s8-precise", "u8", "s8", session_options={"session.x64quantprecision": "1"}),
    Int8Recipe("u8s8-reduce-range", "u8", "s8", reduce_range=True),
    Int8Recipe("u8u8", "u8", "u8"),
    Int8Recipe("s8s8", "s8", "s8"),
)}


@dataclass(frozen=True)
class Int8Choice:
    """The recipe picked for one target CPU, why, and from what."""

    recipe: Int8Recipe
    reason: str
    cpu: str  # what was known about the target, one line
    chosen_by: str  # "host /proc/cpuinfo", "EDGEBENCH_ORT_TARGET_CPUINFO=…", "EDGEBENCH_ORT_INT8_RECIPE=…"

    def meta(self) -> dict[str, Any]:
        """What the artifact records (and the runner adapter reads: ``session_options``)."""
        r = self.recipe
        return {"name": r.name, "activations": r.activations, "weights": r.weights,
                "reduce_range": r.reduce_range, "session_options": dict(r.session_options),
                "reason": self.reason, "cpu": self.cpu, "chosen_by": self.chosen_by}


def cpu_flags(cpuinfo_text: str) -> frozenset[str]:
    """The flags *every* CPU listed has: x86 ``flags``, ARM ``Features``, lscpu ``Flags:``.

    A thread may land on any core, so a flag only one cluster has does not count. Text without
    any ``key: value`` line is read as a bare, space-separated flag list.
    """
    per_cpu: list[set[str]] = []
    keyed = False
    for line in cpuinfo_text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        keyed = True
        if key.strip().lower() in ("flags", "features"):
            per_cpu.append(set(value.split()))
    if not keyed:
        return frozenset(cpuinfo_text.split())
    return frozenset(set.intersection(*per_cpu)) if per_cpu else frozenset()


def cpu_has_int8_dot(flags_text: str) -> bool:
    """Whether the CPU(s) in ``flags_text`` (/proc/cpuinfo, lscpu, or a bare flag list) have int8
    dot products: x86 ``avx512_vnni``/``avx_vnni``, ARM ``asimddp``."""
    return bool(cpu_flags(flags_text) & (X86_INT8_DOT | ARM_INT8_DOT))


def cpu_arch(cpuinfo_text: str, machine: str = "") -> str:
    """"x86", "arm" or "unknown", from ``platform.machine()`` when given, else from the text."""
    m = machine.strip().lower()
    if m in _X86_MACHINES:
        return "x86"
    if m.startswith(("arm", "aarch64")):
        return "arm"
    flags = cpu_flags(cpuinfo_text)
    lowered = cpuinfo_text.lower()
    if flags & _X86_MARKERS or "genuineintel" in lowered or "authenticamd" in lowered:
        return "x86"
    if flags & _ARM_MARKERS or "cpu implementer" in lowered:
        return "arm"
    return "unknown"


def _model_name(cpuinfo_text: str) -> str:
    for line in cpuinfo_text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() in ("model name", "hardware") and value.strip():
            return value.strip()
    return ""


def recipe_for_cpu(cpuinfo_text: str, machine: str = "", chosen_by: str = "cpuinfo") -> Int8Choice:
    """The default recipe for the CPU described by ``cpuinfo_text`` (and ``machine``, if known)."""
    arch = cpu_arch(cpuinfo_text, machine)
    flags = cpu_flags(cpuinfo_text)
    name = _model_name(cpuinfo_text) or machine or "unknown CPU"
    if arch == "x86":
        dot = sorted(flags & X86_INT8_DOT)
        if dot:
            return Int8Choice(RECIPES["u8s8"], f"x86-64 with {'/'.join(dot)}: u8s8 accumulates in int32, no "
                              "saturation", f"{name} (x86, {'/'.join(dot)})", chosen_by)
        known = "no avx512_vnni/avx_vnni" if flags else "instruction set unknown"
        return Int8Choice(RECIPES["u8s8-precise"], f"x86-64 without VNNI ({known}): u8s8 saturates "
                          "(vpmaddubsw adds u8×s8 pairs into int16), so onnxruntime runs it on u8u8 kernels",
                          f"{name} (x86, {known})", chosen_by)
    if arch == "arm":
        dot = "with" if flags & ARM_INT8_DOT else "without"
        return Int8Choice(RECIPES["u8s8"], f"ARM {dot} dot product: NEON int8 kernels widen before adding, "
                          "no saturation", f"{name} (ARM, {'asimddp' if dot == 'with' else 'no asimddp'})",
                          chosen_by)
    # nothing known: the recipe that is exact on every CPU (the option is a no-op off x86-without-VNNI)
    return Int8Choice(RECIPES["u8s8-precise"], "CPU unknown: u8s8 with onnxruntime's u8u8 fallback where "
                      "it would saturate", name, chosen_by)


def _host_cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:  # macOS, Windows: the architecture from platform.machine() still decides
        return ""


def choose_int8_recipe(env: Mapping[str, str] | None = None) -> Int8Choice:
    """The recipe for the target: ``EDGEBENCH_ORT_INT8_RECIPE`` if set, else the CPU of
    ``EDGEBENCH_ORT_TARGET_CPUINFO`` if set, else this host's (the common case: ``edgebench run``
    measures the artifact on the machine that exported it). Raises ValueError on a bad setting."""
    env = os.environ if env is None else env
    forced = env.get(RECIPE_ENV, "").strip()
    if forced and forced != "auto":
        if forced not in RECIPES:
            raise ValueError(f"{RECIPE_ENV}={forced!r}: choose from auto, {', '.join(RECIPES)}")
        return Int8Choice(RECIPES[forced], "forced", "not read", f"{RECIPE_ENV}={forced}")
    target = env.get(CPUINFO_ENV, "").strip()
    if target:
        try:
            text = Path(target).read_text(errors="replace")
        except OSError as exc:
            raise ValueError(f"{CPUINFO_ENV}={target!r} cannot be read: {exc.strerror or exc}") from None
        return recipe_for_cpu(text, "", f"{CPUINFO_ENV}={target}")
    return recipe_for_cpu(_host_cpuinfo(), platform.machine(), "host /proc/cpuinfo")
