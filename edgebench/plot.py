"""PSNR-vs-latency Pareto plot as an image file (matplotlib, imported only here)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from .errors import EdgebenchError
from .leaderboard import FORMULA

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")


def plot_pareto(rows: list[dict[str, Any]], path: Path, dpi: int = 120) -> int:
    """One panel per section (device, input, scale): PSNR against median latency (log x) with CI bars, Pareto front marked.

    The format follows the file suffix (png, svg, pdf). Returns the number of points drawn.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")  # no display needed
        import matplotlib.pyplot as plt
    except ImportError:
        raise EdgebenchError("plotting needs matplotlib: pip install 'edgebench[plot]'") from None
    pts = [r for r in rows if r.get("psnr") is not None and r.get("median_ms") and math.isfinite(r["psnr"])]
    if not pts:
        raise EdgebenchError("no stored result has both PSNR and latency to plot")
    devices = list(dict.fromkeys(r.get("section", r["device"]) for r in pts))
    backends = list(dict.fromkeys(r["backend"] for r in pts))
    colour = {b: PALETTE[i % len(PALETTE)] for i, b in enumerate(backends)}
    fig, axes = plt.subplots(1, len(devices), figsize=(6.4 * len(devices), 4.6), squeeze=False)
    for ax, device in zip(axes[0], devices):
        mine = [r for r in pts if r.get("section", r["device"]) == device]
        for r in mine:
            lo, hi = r.get("ci_low_ms") or r["median_ms"], r.get("ci_high_ms") or r["median_ms"]
            ax.errorbar(r["median_ms"], r["psnr"], xerr=[[r["median_ms"] - lo], [hi - r["median_ms"]]],
                        fmt="s" if r["precision"] == "fp32" else "o", color=colour[r["backend"]], ms=6,
                        capsize=2, elinewidth=1, alpha=0.9)
        front = sorted((r for r in mine if r.get("pareto")), key=lambda r: r["median_ms"])
        if front:
            ax.step([r["median_ms"] for r in front], [r["psnr"] for r in front], where="post",
                    color="#d62728", ls="--", lw=1.4, label="Pareto front")
            ax.scatter([r["median_ms"] for r in front], [r["psnr"] for r in front], s=160,
                       facecolors="none", edgecolors="#d62728", lw=1.6)
        ax.set_xscale("log")
        ax.margins(x=0.08, y=0.18)
        ax.xaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel("median latency, ms (log; bars: 95% CI)")
        ax.set_ylabel("PSNR, dB")
        ax.set_title(device)
        ax.grid(True, which="both", alpha=0.3)
    handles = [plt.Line2D([], [], marker="o", ls="", color=colour[b], label=b) for b in backends]
    handles += [plt.Line2D([], [], marker="o", ls="", color="grey", label="int8"),
                plt.Line2D([], [], marker="s", ls="", color="grey", label="fp32"),
                plt.Line2D([], [], color="#d62728", ls="--", label="Pareto front")]
    _label_points(fig, axes[0], devices, pts)
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), frameon=False, fontsize=9)
    fig.text(0.01, 0.995, FORMULA, fontsize=8, color="#555", va="top")
    fig.tight_layout(rect=(0, 0.07, 1, 0.96))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return len(pts)


OFFSETS = ((6, 6), (6, -14), (-6, 6), (-6, -14), (6, 18), (6, -26), (-6, 18), (-6, -26))


def _label_points(fig: Any, axes: Any, devices: list[str], pts: list[dict[str, Any]]) -> None:
    """Name the Pareto points (all points when few), trying offsets until a label overlaps nothing."""
    renderer = fig.canvas.get_renderer()
    for ax, device in zip(axes, devices):
        mine = sorted((r for r in pts if r.get("section", r["device"]) == device), key=lambda r: not r.get("pareto"))
        taken: list[Any] = []
        for r in mine:
            if not (r.get("pareto") or len(mine) <= 8):
                continue
            name = r["model"] + ("" if r["precision"] == "int8" else f" {r['precision']}")
            for i, (dx, dy) in enumerate(OFFSETS):
                note = ax.annotate(name, (r["median_ms"], r["psnr"]), xytext=(dx, dy), textcoords="offset points",
                                   fontsize=9, ha="left" if dx > 0 else "right")
                box = note.get_window_extent(renderer)
                if i == len(OFFSETS) - 1 or not any(box.overlaps(other) for other in taken):
                    taken.append(box)
                    break
                note.remove()
