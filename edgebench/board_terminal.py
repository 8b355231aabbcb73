"""The leaderboard in a terminal: one rich table per section, fitted to the console's width.

Rank, model, backend, precision, PSNR, median and score always stay whole; the other columns join by
priority while the table fits (``--wide`` shows all, ``--columns`` picks).
"""

from __future__ import annotations

from typing import Any

from .leaderboard import (COLUMNS, ENERGY_COLUMN, KEY, SETTING_COLUMN, VS_CPU_COLUMN, _cell, columns_for, footer,
                          sections, warning_lines)

# The terminal table fits the console (render_rich): these columns stay whole at any width ≥ 80 ...
ESSENTIAL = ("rank", "model", "backend", "precision", "psnr", "median_ms", "score")
# ... and these join them, most useful first, for as long as the table still fits.
OPTIONAL = ("delegate", "delta_int8_db", "ci", "energy_mj", "flag", "setting", "vs_cpu", "ssim", "mem_peak_mb", "params",
            "artifact_kb", "n_pooled")
# `--columns` names -> column keys (the JSON keys are accepted too). The device is the section's title,
# so the terminal table shows it only when asked for.
COLUMN_NAMES = {"rank": "rank", "device": "device", "model": "model", "backend": "backend", "delegate": "delegate",
                "precision": "precision", "psnr": "psnr", "delta_int8": "delta_int8_db", "ssim": "ssim",
                "median": "median_ms", "ci": "ci", "peak_mb": "mem_peak_mb", "params": "params",
                "size_kb": "artifact_kb", "score": "score", "n": "n_pooled", "stability": "flag",
                "setting": "setting", "vs_cpu": "vs_cpu", "energy": "energy_mj"}
MODEL_MIN_WIDTH = 8  # a folded model name still gets this many characters a line


def parse_columns(spec: str) -> list[str]:
    """``"rank,model,psnr"`` -> column keys, in that order; an unknown name is a ValueError naming the valid ones."""
    names = [name.strip().lower() for name in spec.split(",") if name.strip()]
    known = {**COLUMN_NAMES, **{key: key for key in COLUMN_NAMES.values()}}
    unknown = [name for name in names if name not in known]
    if unknown or not names:
        what = f"unknown column(s) {', '.join(unknown)}" if unknown else "no column named"
        raise ValueError(f"{what}; valid: {', '.join(COLUMN_NAMES)}")
    return list(dict.fromkeys(known[name] for name in names))


def terminal_layout(rows: list[dict[str, Any]], width: int, columns: list[str] | None = None, wide: bool = False,
                    ) -> tuple[list[tuple[str, str, str]], dict[str, int], int]:
    """The terminal table's columns at ``width`` characters, each one's content width, and the table's width.

    Widths come from the cells' own text, so nothing is guessed: the essential columns keep their longest
    cell (only a too-long model name folds onto a second line), then the optional ones join in priority
    order while the table fits. ``columns`` (keys) picks them explicitly and ``wide`` takes all; neither is
    trimmed to the width.
    """
    from rich.cells import cell_len

    by_key = {c[0]: c for c in (*COLUMNS, SETTING_COLUMN, VS_CPU_COLUMN, ENERGY_COLUMN)}
    cols = [by_key[k] for k in columns] if columns else [c for c in columns_for(rows) if c[0] != "device"]
    widths = {k: max([cell_len(h), *(cell_len(_cell(r, k, f)) for r in rows)]) for k, h, f in cols}

    def total(keys: list[str]) -> int:  # rich's box: one border per column plus one, one space each side of a cell
        return 1 + sum(widths[k] + 3 for k in keys)

    keep = [k for k, _, _ in cols if columns or wide or k in ESSENTIAL]
    if not wide:
        excess = total(keep) - width
        if excess > 0 and "model" in keep:  # fold the model name rather than cut any figure
            widths["model"] = max(widths["model"] - excess, min(widths["model"], MODEL_MIN_WIDTH))
        if not columns:  # a column too wide to fit leaves room for a narrower, less important one
            for key in OPTIONAL:
                if key in widths and total([*keep, key]) <= width:
                    keep.append(key)
    chosen = [c for c in cols if c[0] in keep]
    return chosen, {k: widths[k] for k, _, _ in chosen}, total([k for k, _, _ in chosen])


def top_rows(rows: list[dict[str, Any]], top: int | None) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The best ``top`` rows of each section (all when None or 0) and how many each section left out.

    Unranked rows (flagged output, quick runs) are always kept: they say what is wrong."""
    if not top:
        return rows, {}
    kept, hidden = [], {}
    for r in rows:
        if r.get("rank") is None or r["rank"] <= top:
            kept.append(r)
        else:
            hidden[r["section"]] = hidden.get(r["section"], 0) + 1
    return kept, hidden


def render_rich(rows: list[dict[str, Any]], console: Any, top: int | None = None, title: str | None = None,
                columns: list[str] | None = None, wide: bool = False) -> None:
    """A rich table per section, fitted to the console's width (:func:`terminal_layout`).

    ``top``: only each section's best ``top`` rows (rich needs ~1 ms per row). ``title`` heads each table
    (``run 3: results · host · 360x640 · x3``; default ``edgebench leaderboard: <section>``). ``columns``
    (keys, :func:`parse_columns`) or ``wide`` (all) override the fitting; such a table may be wider than
    the console and is then printed uncropped rather than cut.
    """
    from rich.table import Table
    from rich.text import Text

    shown, hidden = top_rows(rows, top)
    cols, widths, table_width = terminal_layout(shown, console.width, columns, wide)
    overflow = table_width > console.width  # never cut a figure: let the terminal wrap the line instead
    styles = {"unstable": "yellow", "caution": "dim yellow", "flagged": "red"}
    for section, mine in sections(shown).items():
        heading = f"{title} · {section}" if title else f"edgebench leaderboard: {section}"
        table = Table(title=Text(heading), title_justify="left", width=table_width if overflow else None)
        for key, header, _ in cols:  # fixed widths: rich must not shrink a column into "…"
            table.add_column(header, justify="left" if key in (*KEY, "flag", "setting") else "right",
                             width=widths[key], no_wrap=key != "model", overflow="fold")
        for r in mine:
            cells = [Text(_cell(r, k, f)) for k, _, f in cols]  # Text: no markup parsing of stored names
            table.add_row(*cells, style=styles.get(r.get("flag", "ok")))
        console.print(table, crop=not overflow)
        if hidden.get(section):
            console.print(f"… {hidden[section]} more configuration(s) in {section}: --top 0 shows all, "
                          "--format html/csv/json always do", style="dim", highlight=False, markup=False)
    if shown:
        console.print(footer(shown), style="dim", highlight=False, markup=False)
        for line in warning_lines(shown, limit=12):
            console.print(line, style="yellow", highlight=False, markup=False)
