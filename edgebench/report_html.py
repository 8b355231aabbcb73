"""The leaderboard as one self-contained HTML page.

No network: styles, the sorting script and the PSNR-vs-latency plots (inline SVG, one per
device, Pareto front marked) are all in the page, and its Content-Security-Policy forbids loading
anything else. Every stored string is escaped.
"""

from __future__ import annotations

import html
import math
from datetime import datetime, timezone
from typing import Any

from .leaderboard import FORMULA, _cell, fmt_ms, notes, row_problems
from .plot import FRONT_COLOUR, point_label

COLUMNS = [  # (key, header, numeric); device is the section, so it is not a column
    ("rank", "#", True), ("model", "Model", False), ("backend", "Backend", False), ("delegate", "Delegate", False),
    ("precision", "Prec.", False), ("psnr", "PSNR dB", True), ("delta_int8_db", "Δ int8 dB", True),
    ("ssim", "SSIM", True), ("median_ms", "Median ms", True), ("ci", "95% CI ms", True),
    ("mem_peak_mb", "Peak MB", True), ("params", "Params", True), ("artifact_kb", "Size KB", True),
    ("score", "Score", True), ("n_pooled", "n", True), ("flag", "Stability", False),
]
ENERGY = ("energy_mj", "mJ/frame", True)  # a column only on boards with a result measured with --power
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:24px auto;
 max-width:1280px;padding:0 16px;color:#1d232b;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 4px;border-bottom:2px solid #dfe3e8;padding-bottom:4px}
.meta,.devinfo{color:#5b6570;font-size:13px}
.formula{background:#f4f6f8;border-left:4px solid #1f77b4;padding:8px 12px;margin:12px 0;font-size:13px}
.formula code{font-size:14px;font-weight:600}
table.board{border-collapse:collapse;width:100%;margin:8px 0;font-variant-numeric:tabular-nums}
table.board th{background:#eef1f4;position:sticky;top:0;cursor:pointer;user-select:none;white-space:nowrap;
 padding:6px 8px;border-bottom:2px solid #c9d0d7;text-align:right}
table.board th.text{text-align:left}
table.board th[aria-sort=ascending]::after{content:" ▲";font-size:10px}
table.board th[aria-sort=descending]::after{content:" ▼";font-size:10px}
table.board td{padding:5px 8px;border-bottom:1px solid #e6e9ec;text-align:right;white-space:nowrap}
table.board td.text{text-align:left}
table.board td.model{white-space:normal;overflow-wrap:anywhere;max-width:260px}
table.board tbody tr:nth-child(even){background:#fafbfc}
table.board tbody tr:hover{background:#eef5fc}
tr.unstable td{background:#fff6df!important}
.badge{display:inline-block;border-radius:9px;padding:0 8px;font-size:12px}
.badge.ok{background:#e3f4e6;color:#1d6b2f}.badge.unstable{background:#ffe2a8;color:#7a4b00}
.badge.caution{background:#eef1f4;color:#5b6570}
.badge.flagged{background:#fbd5d5;color:#8a1c1c}
.star{color:#d62728}
.ci{color:#5b6570}
ul.warnings{font-size:13px;color:#7a4b00;margin:4px 0 0 0;padding-left:20px}
.plot{margin:8px 0}
svg text{font:12px system-ui,"DejaVu Sans",sans-serif;fill:#1d232b}
svg .grid{stroke:#e6e9ec}svg .axis{stroke:#5b6570}
svg .front{fill:none;stroke:#111;stroke-width:1.6;stroke-dasharray:5 3}
svg .ring,svg .key-ring{fill:none;stroke:#111;stroke-width:2}
svg .err{stroke-width:1.2;opacity:.7}
.legend{font-size:12px;color:#5b6570}
"""

SCRIPT = """
(function(){
  function key(td, numeric){
    var v = td.getAttribute('data-v');
    if (numeric) { var x = parseFloat(v); return isNaN(x) ? null : x; }
    return (v === null ? td.textContent : v).toLowerCase();
  }
  document.querySelectorAll('table.board').forEach(function(table){
    var heads = table.querySelectorAll('thead th');
    heads.forEach(function(th, col){
      th.addEventListener('click', function(){
        var numeric = th.getAttribute('data-type') === 'num';
        var asc = th.getAttribute('aria-sort') !== 'ascending';
        heads.forEach(function(h){ h.removeAttribute('aria-sort'); });
        th.setAttribute('aria-sort', asc ? 'ascending' : 'descending');
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function(a, b){
          var x = key(a.cells[col], numeric), y = key(b.cells[col], numeric);
          if (x === y) return 0;
          if (x === null) return 1;   /* missing values last either way */
          if (y === null) return -1;
          return (x < y ? -1 : 1) * (asc ? 1 : -1);
        });
        rows.forEach(function(r){ body.appendChild(r); });
      });
    });
  });
})();
"""


def render_html(rows: list[dict[str, Any]], title: str = "edgebench leaderboard",
                device_info: dict[str, dict[str, Any]] | None = None, source: str = "") -> str:
    """The whole page. ``device_info`` (device name -> info) adds a line under each device heading."""
    esc = html.escape
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
        f'<p class="meta">{len(rows)} configurations, {sum(r.get("n_results") or 0 for r in rows)} stored results'
        f'{", from " + esc(source) if source else ""}; generated {now} by edgebench.</p>',
        '<div class="formula"><p>MAI 2022 score: <code>' + esc(FORMULA) + "</code></p>"
        f"<p>{esc(notes(rows) if rows else '')}</p>"
        "<p>Ranked by score within each section (device, input size, scale); =N is a shared rank (overlapping "
        "intervals, PSNR within 0.01 dB); – is unranked (a --quick smoke test or flagged output). "
        "<span class=\"star\">★</span> marks the Pareto front "
        "(no other configuration of the section is faster and at least as sharp beyond the noise). "
        "Stability: <span class=\"badge ok\">ok</span> "
        "<span class=\"badge unstable\">unstable</span> (high spread, a slowdown or temperature rise "
        "during the runs, or pooled runs that disagree) "
        "<span class=\"badge caution\">caution</span> (outliers by MAD, few runs, timings near the timer "
        "resolution); <span class=\"badge flagged\">flagged</span> (output broken: int8 collapse, below "
        "bicubic, constant or NaN); "
        "hover a badge for the hint. Click a column heading to sort.</p></div>",
    ]
    if not rows:
        parts.append("<p>No results stored yet: run <code>edgebench run</code> first.</p>")
    from .leaderboard import sections

    for section, mine in sections(rows).items():
        device = mine[0]["device"]
        parts.append(f'<section class="device" data-device="{esc(device)}" data-section="{esc(section)}">'
                     f'<h2>{esc(section)}</h2>')
        info = (device_info or {}).get(device) or {}
        described = ", ".join(str(info[k]) for k in ("model", "soc", "cpu_model", "os", "machine") if info.get(k))
        if described:
            parts.append(f'<p class="devinfo">{esc(described)}</p>')
        parts.append(f'<div class="plot">{pareto_svg(mine, device)}</div>')
        parts.append(_table(mine))
        items = []
        for r in mine:
            messages, hint = row_problems(r)
            if messages:
                items.append(f"<li><b>{esc(r['model'])} {esc(r['backend'])} {esc(r['delegate'])} "
                             f"{esc(r['precision'])}</b>: {esc('; '.join(messages))}."
                             + (f" <i>Hint: {esc(hint)}</i>" if hint else "") + "</li>")
        if items:
            parts.append('<ul class="warnings">' + "".join(items) + "</ul>")
        parts.append("</section>")
    parts.append(f"<script>{SCRIPT}</script></body></html>")
    return "\n".join(parts) + "\n"


def _columns(rows: list[dict[str, Any]]) -> list[tuple[str, str, bool]]:
    cols = list(COLUMNS)
    if any(r.get("energy_mj") is not None for r in rows):
        cols.insert([k for k, _, _ in cols].index("mem_peak_mb"), ENERGY)
    return cols


def _table(rows: list[dict[str, Any]]) -> str:
    esc = html.escape
    columns = _columns(rows)
    head = "".join(
        f'<th data-type="{"num" if numeric else "text"}" class="{"num" if numeric else "text"}"'
        f' scope="col">{esc(header)}</th>' for _, header, numeric in columns)
    body = []
    for r in rows:
        cells = []
        for key, _, numeric in columns:
            cells.append(_td(r, key, numeric))
        flag = r.get("flag") or "ok"
        body.append(f'<tr class="{esc(flag)}" data-result="{r.get("result_id")}">{"".join(cells)}</tr>')
    return (f'<table class="board"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table>')


FORMATS = {"rank": "{}", "psnr": "{:.2f}", "delta_int8_db": "{:+.2f}", "ssim": "{:.4f}", "mem_peak_mb": "{:.1f}",
           "params": "{:,}", "artifact_kb": "{:.0f}", "score": "{:.3g}", "n_pooled": "{}", "energy_mj": "{:.3g}"}


def _td(r: dict[str, Any], key: str, numeric: bool) -> str:
    """One cell; ``data-v`` carries the raw value the sorting script compares."""
    esc = html.escape
    if key == "flag":
        flag = r.get("flag") or "ok"
        hint = esc(r.get("hint") or "no stability warnings")
        label = _cell(r, "flag", "")
        badge = f'<span class="badge {esc(flag)}" title="{hint}">{label}</span>'
        return f'<td class="text" data-v="{esc(flag)}">{badge}</td>'
    if key == "rank":
        label = _cell(r, "rank", "")
        return f'<td data-v="{r["rank"] if r.get("rank") is not None else ""}">{esc(label)}</td>'
    if key == "model":
        name = esc(str(r["model"]))
        star = ' <span class="star" title="on the Pareto front">★</span>' if r.get("pareto") else ""
        return f'<td class="text model" data-v="{name}">{name}{star}</td>'
    if key == "ci":  # sorts by the interval's width: the least certain rows last
        if r.get("ci_low_ms") is None or r.get("ci_high_ms") is None:
            return '<td data-v="">–</td>'
        width = r["ci_high_ms"] - r["ci_low_ms"]
        return f'<td class="ci" data-v="{width!r}">{esc(_cell(r, "ci", ""))}</td>'
    value = r.get(key)
    if not numeric:
        return f'<td class="text">{esc("–" if value is None else str(value))}</td>'
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return f'<td data-v="">{"–" if value is None else value}</td>'
    text = fmt_ms(value) if key == "median_ms" else FORMATS.get(key, "{}").format(value)
    title = ""
    if key == "energy_mj" and r.get("energy_low_mj") is not None:
        title = f' title="95% interval {r["energy_low_mj"]:.3g}–{r["energy_high_mj"]:.3g} mJ per inference"'
    if key == "n_pooled" and (r.get("n_results") or 0) > 1:
        title = (f' title="{r["n_pooled"]} of {r["n_results"]} results pooled, {r.get("n_runs")} timed runs;'
                 f' per-result medians {fmt_ms(r["run_median_min_ms"])}–{fmt_ms(r["run_median_max_ms"])} ms"')
    return f'<td data-v="{value!r}"{title}>{esc(text)}</td>'


# -- the PSNR-vs-latency plot as inline SVG ------------------------------------------------------

W, H, LEFT, RIGHT, TOP, BOTTOM = 900, 360, 64, 150, 16, 46


def _ticks_log(lo: float, hi: float) -> list[float]:
    out = []
    for e in range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1):
        for m in (1, 2, 5):
            v = m * 10.0**e
            if lo <= v <= hi:
                out.append(v)
    return out


def _ticks_lin(lo: float, hi: float, n: int = 6) -> list[float]:
    raw = (hi - lo) / max(n, 1)
    step = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    for m in (1, 2, 5, 10):
        if raw <= m * step:
            step *= m
            break
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step) + 1)]


def _place(x: float, y: float, text: str, placed: list[tuple[float, float, float, float]],
           plot_w: float) -> tuple[float, float, str]:
    """A label spot next to (x, y) that overlaps no label or point placed so far (greedy)."""
    w, h = 7.2 * len(text), 13.0
    spots = [(10, -8, "start"), (10, 14, "start"), (-10, -8, "end"), (-10, 14, "end"), (10, -22, "start"),
             (10, 28, "start"), (-10, -22, "end"), (-10, 28, "end")]
    for dx, dy, anchor in spots:
        tx, ty = x + dx, y + dy
        box = (tx if anchor == "start" else tx - w, ty - h + 3, (tx + w) if anchor == "start" else tx, ty + 3)
        inside = LEFT <= box[0] and box[2] <= LEFT + plot_w and TOP <= box[1] and box[3] <= H - BOTTOM
        if inside and not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in placed):
            placed.append(box)
            return tx, ty, anchor
    return x + 10, y - 8, "start"  # crowded: overlap rather than drop the label


def pareto_svg(rows: list[dict[str, Any]], device: str) -> str:
    """PSNR (y) against median latency (x, log scale) with CI bars; the Pareto front dashed."""
    esc = html.escape
    pts = [r for r in rows if r.get("psnr") is not None and r.get("median_ms") and math.isfinite(r["psnr"])]
    if not pts:
        return '<p class="meta">No configuration with both PSNR and latency to plot.</p>'
    xs = [v for r in pts for v in (r["median_ms"], r.get("ci_low_ms") or r["median_ms"],
                                    r.get("ci_high_ms") or r["median_ms"]) if v and v > 0]
    x_lo, x_hi = min(xs) / 1.25, max(xs) * 1.25
    y_lo, y_hi = min(r["psnr"] for r in pts), max(r["psnr"] for r in pts)
    pad = max((y_hi - y_lo) * 0.12, 0.25)
    y_lo, y_hi = y_lo - pad, y_hi + pad
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM
    backends = list(dict.fromkeys(r["backend"] for r in pts))
    # the legend sits right of the axes: widen the picture for long backend names rather than overlap the plot
    width = LEFT + pw + max(RIGHT, 40 + round(7.2 * max(len(b) for b in [*backends, "Pareto front"])))

    def sx(v: float) -> float:
        return LEFT + (math.log10(v) - math.log10(x_lo)) / (math.log10(x_hi) - math.log10(x_lo)) * pw

    def sy(v: float) -> float:
        return TOP + (y_hi - v) / (y_hi - y_lo) * ph

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{H}" viewBox="0 0 {width} {H}" '
           f'aria-label="PSNR against latency on {esc(device)}">']
    xt = _ticks_log(x_lo, x_hi) or [x_lo, x_hi]
    for v in xt:
        out.append(f'<line class="grid" x1="{sx(v):.1f}" x2="{sx(v):.1f}" y1="{TOP}" y2="{TOP + ph}"/>'
                   f'<text x="{sx(v):.1f}" y="{TOP + ph + 16}" text-anchor="middle">{v:g}</text>')
    for v in _ticks_lin(y_lo, y_hi):
        out.append(f'<line class="grid" x1="{LEFT}" x2="{LEFT + pw}" y1="{sy(v):.1f}" y2="{sy(v):.1f}"/>'
                   f'<text x="{LEFT - 6}" y="{sy(v) + 4:.1f}" text-anchor="end">{v:g}</text>')
    out.append(f'<rect class="axis" x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none"/>')
    out.append(f'<text x="{LEFT + pw / 2:.0f}" y="{H - 8}" text-anchor="middle">median latency, ms (log scale; '
               f'bars: 95% CI)</text>')
    out.append(f'<text transform="translate(16 {TOP + ph / 2:.0f}) rotate(-90)" text-anchor="middle">PSNR, dB</text>')
    front = sorted((r for r in pts if r.get("pareto")), key=lambda r: r["median_ms"])
    if len(front) > 1:
        path = [f"M{sx(front[0]['median_ms']):.1f},{sy(front[0]['psnr']):.1f}"]
        for prev, cur in zip(front, front[1:]):  # staircase: PSNR only improves by paying latency
            path.append(f"H{sx(cur['median_ms']):.1f}V{sy(cur['psnr']):.1f}")
        out.append(f'<path class="front" stroke="{FRONT_COLOUR}" d="{"".join(path)}"/>')
    colour = {b: PALETTE[i % len(PALETTE)] for i, b in enumerate(backends)}
    placed: list[tuple[float, float, float, float]] = [(sx(r["median_ms"]) - 6, sy(r["psnr"]) - 6,
                                                        sx(r["median_ms"]) + 6, sy(r["psnr"]) + 6) for r in pts]
    for r in sorted(pts, key=lambda r: not r.get("pareto")):  # front labels get the best spots
        x, y, c = sx(r["median_ms"]), sy(r["psnr"]), colour[r["backend"]]
        label = (f"{r['model']} {r['backend']} {r['delegate']} {r['precision']}: {r['psnr']:.2f} dB, "
                 f"{fmt_ms(r['median_ms'])} ms")
        if r.get("ci_low_ms") and r.get("ci_high_ms"):
            out.append(f'<line class="err" stroke="{c}" x1="{sx(r["ci_low_ms"]):.1f}" x2="{sx(r["ci_high_ms"]):.1f}" '
                       f'y1="{y:.1f}" y2="{y:.1f}"/>')
        point = f'data-point="{r.get("result_id")}" fill="{c}"'
        shape = (f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4.5" {point}>' if r["precision"] != "fp32" else
                 f'<rect x="{x - 4:.1f}" y="{y - 4:.1f}" width="8" height="8" {point}>')
        out.append(shape + f"<title>{esc(label)}</title>" + ("</circle>" if r["precision"] != "fp32" else "</rect>"))
        if r.get("pareto"):
            out.append(f'<circle class="ring" cx="{x:.1f}" cy="{y:.1f}" r="8"/>')
        if r.get("pareto") or len(pts) <= 8:
            text = point_label(r)  # model · backend precision: two backends may run one model
            tx, ty, anchor = _place(x, y, text, placed, pw)
            out.append(f'<text x="{tx:.1f}" y="{ty:.1f}" text-anchor="{anchor}">{esc(text)}</text>')
    ly = TOP + 8
    lx = LEFT + pw + 16
    for b in backends:
        out.append(f'<circle cx="{lx + 5}" cy="{ly}" r="4.5" fill="{colour[b]}"/>'
                   f'<text x="{lx + 16}" y="{ly + 4}">{esc(b)}</text>')
        ly += 18
    out.append(f'<circle cx="{lx + 5}" cy="{ly}" r="4.5" fill="#5b6570"/><text x="{lx + 16}" y="{ly + 4}">int8</text>'
               f'<rect x="{lx + 1}" y="{ly + 14}" width="8" height="8" fill="#5b6570"/>'
               f'<text x="{lx + 16}" y="{ly + 22}">fp32</text>'
               f'<circle class="key-ring" cx="{lx + 5}" cy="{ly + 38}" r="7"/>'
               f'<text x="{lx + 16}" y="{ly + 42}">Pareto front</text>')
    out.append("</svg>")
    return "".join(out)

