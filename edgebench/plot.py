"""PSNR-vs-latency Pareto plot as an image file (matplotlib, imported only here)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from .errors import EdgebenchError
from .leaderboard import FORMULA
from .quality_guards import CPU_DELEGATES

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
FRONT_COLOUR = "#111111"  # black: no backend's colour, however many backends the board holds
LEGEND_IN = 2.4  # inches right of the panels for the legend, so it never covers a point


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")  # no display needed
        import matplotlib.pyplot as plt
    except ImportError:
        raise EdgebenchError("plotting needs matplotlib: pip install 'edgebench[plot]'") from None
    return plt


def _points(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    pts = [r for r in rows if r.get("psnr") is not None and r.get("median_ms") and math.isfinite(r["psnr"])]
    if not pts:
        raise EdgebenchError("no stored result has both PSNR and latency to plot")
    return pts


def point_label(row: dict[str, Any]) -> str:
    """What a point is: model, backend (with its delegate unless it is a CPU path) and precision."""
    cpu = row.get("delegate") in (None, "", *CPU_DELEGATES)
    backend = row["backend"] if cpu else f"{row['backend']}/{row['delegate']}"
    return f"{row['model']} · {backend} {row['precision']}"


def plot_pareto(rows: list[dict[str, Any]], path: Path, dpi: int = 120) -> int:
    """One panel per section (device, input, scale): PSNR against median latency (log x) with CI bars, Pareto front marked.

    The format follows the file suffix (png, svg, pdf). Returns the number of points drawn.
    """
    plt = _pyplot()
    n = len(_points(rows))
    fig = pareto_figure(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight", pad_inches=0.15)  # the legend sits right of the panels
    plt.close(fig)
    return n


def pareto_figure(rows: list[dict[str, Any]]) -> Any:
    """The matplotlib figure :func:`plot_pareto` saves: panels, labelled points, and the legend outside them."""
    plt = _pyplot()
    import matplotlib

    pts = _points(rows)
    devices = list(dict.fromkeys(r.get("section", r["device"]) for r in pts))
    backends = list(dict.fromkeys(r["backend"] for r in pts))
    colour = {b: PALETTE[i % len(PALETTE)] for i, b in enumerate(backends)}
    width = 6.4 * len(devices) + LEGEND_IN
    fig, axes = plt.subplots(1, len(devices), figsize=(width, 4.6), squeeze=False)
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
                    color=FRONT_COLOUR, ls="--", lw=1.4, label="Pareto front")
            ax.scatter([r["median_ms"] for r in front], [r["psnr"] for r in front], s=160,
                       facecolors="none", edgecolors=FRONT_COLOUR, lw=1.6)
        ax.set_xscale("log")
        ax.margins(x=0.08, y=0.18)
        ax.xaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel("median latency, ms (log; bars: 95% CI)")
        ax.set_ylabel("PSNR, dB")
        ax.set_title(device)
        ax.grid(True, which="both", alpha=0.3)
    right = 1 - LEGEND_IN / width  # the panels end here; the legend starts here
    fig.text(0.01, 0.995, FORMULA, fontsize=8, color="#555", va="top")
    fig.tight_layout(rect=(0, 0, right, 0.96))
    _label_points(fig, axes[0], devices, pts)  # after the layout: the axes' boxes are final
    handles = [plt.Line2D([], [], marker="o", ls="", color=colour[b], label=b) for b in backends]
    handles += [plt.Line2D([], [], marker="o", ls="", color="grey", label="int8"),
                plt.Line2D([], [], marker="s", ls="", color="grey", label="fp32"),
                plt.Line2D([], [], color=FRONT_COLOUR, ls="--", marker="o", mfc="none", label="Pareto front")]
    fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(right + 0.01, 0.9), frameon=False, fontsize=9,
               title="backend / precision", title_fontsize=9, alignment="left")
    return fig


OFFSETS = ((6, 6), (6, -14), (-6, 6), (-6, -14), (6, 18), (6, -26), (-6, 18), (-6, -26), (6, 30), (-6, 30),
           (6, -38), (-6, -38))


def _overlap(a: Any, b: Any) -> float:
    """Area two display boxes share (0 when apart)."""
    return max(0.0, min(a.x1, b.x1) - max(a.x0, b.x0)) * max(0.0, min(a.y1, b.y1) - max(a.y0, b.y0))


def _label_points(fig: Any, axes: Any, devices: list[str], pts: list[dict[str, Any]]) -> None:
    """Name the Pareto points (all points when few), front first: the first offset whose label stays inside the
    panel and covers no point or other label wins; in a crowd, the one covering least (never dropping a name)."""
    from matplotlib.transforms import Bbox

    renderer = fig.canvas.get_renderer()
    for ax, device in zip(axes, devices):
        mine = sorted((r for r in pts if r.get("section", r["device"]) == device), key=lambda r: not r.get("pareto"))
        panel = ax.get_window_extent(renderer)
        pad = 5 * fig.dpi / 72  # a marker's half size, in pixels: labels keep off the points too
        taken: list[Any] = [Bbox.from_extents(x - pad, y - pad, x + pad, y + pad) for x, y in
                            ax.transData.transform([(r["median_ms"], r["psnr"]) for r in mine])]
        for r in mine:
            if not (r.get("pareto") or len(mine) <= 8):
                continue
            best: tuple[float, Any, Any] | None = None
            for dx, dy in OFFSETS:
                note = ax.annotate(point_label(r), (r["median_ms"], r["psnr"]), xytext=(dx, dy),
                                   textcoords="offset points", fontsize=8, ha="left" if dx > 0 else "right")
                box = note.get_window_extent(renderer)
                outside = box.width * box.height - _overlap(box, panel)
                cost = 10 * outside + sum(_overlap(box, other) for other in taken)
                if best is None or cost < best[0]:
                    if best is not None:
                        best[1].remove()
                    best = (cost, note, box)
                else:
                    note.remove()
                if cost == 0:
                    break
            assert best is not None
            taken.append(best[2])


def _energy_points(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    pts = [r for r in rows if r.get("energy_mj") is not None and r.get("median_ms")]
    if not pts:
        raise EdgebenchError("no stored result has an energy figure to plot: measure with edgebench run --power METER")
    return pts


def plot_energy(rows: list[dict[str, Any]], path: Path, dpi: int = 120) -> int:
    """``plot --y energy``: energy per inference (mJ/frame, 95 % interval bars) against median latency, one
    panel per section. Returns the number of points drawn."""
    plt = _pyplot()
    import matplotlib

    pts = _energy_points(rows)
    sections = list(dict.fromkeys(r.get("section", r["device"]) for r in pts))
    backends = list(dict.fromkeys(r["backend"] for r in pts))
    colour = {b: PALETTE[i % len(PALETTE)] for i, b in enumerate(backends)}
    fig, axes = plt.subplots(1, len(sections), figsize=(6.4 * len(sections), 4.6), squeeze=False)
    for ax, section in zip(axes[0], sections):
        for r in (r for r in pts if r.get("section", r["device"]) == section):
            lo, hi = r.get("energy_low_mj"), r.get("energy_high_mj")
            yerr = [[r["energy_mj"] - lo], [hi - r["energy_mj"]]] if lo is not None and hi is not None else None
            ax.errorbar(r["median_ms"], r["energy_mj"], yerr=yerr, fmt="s" if r["precision"] == "fp32" else "o",
                        color=colour[r["backend"]], ms=6, capsize=2, elinewidth=1, alpha=0.9)
            ax.annotate(point_label(r), (r["median_ms"], r["energy_mj"]), xytext=(6, 6), textcoords="offset points",
                        fontsize=8)
        ax.set_xscale("log")
        ax.margins(x=0.25, y=0.2)
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.set_xlabel("median latency, ms (log)")
        ax.set_ylabel("energy per inference, mJ/frame (bars: 95% interval)")
        ax.set_title(section)
        ax.grid(True, which="both", alpha=0.3)
    handles = [plt.Line2D([], [], marker="o", ls="", color=colour[b], label=b) for b in backends]
    axes[0][-1].legend(handles=handles, fontsize=9, title="backend", title_fontsize=9)
    fig.text(0.01, 0.995, "mJ/frame = (mean power during timed runs - idle power) x median latency", fontsize=8,
             color="#555", va="top")
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight", pad_inches=0.15)
    plt.close(fig)
    return len(pts)
