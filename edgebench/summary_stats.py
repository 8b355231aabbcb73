"""Statistics from a tool's own summary, for results that have no raw timings.

Native tools such as TFLite's ``benchmark_model`` print count, min, max, mean and standard
deviation (and percentiles in newer versions) of their timed runs, never each run. Such a result
is stored as that summary, honestly: its own count, never one figure repeated as N timings. The
confidence interval is that of the mean (Student's t), and two such results are compared with
Welch's t-test on (mean, std, n) instead of a rank test on raw timings.
"""

from __future__ import annotations

import math
from typing import Any, Mapping


def summary_from_tool(runs: Mapping[str, Any], first_ms: float | None = None, scale: float = 1e-3,
                      confidence: float = 0.95) -> dict[str, Any]:
    """A harness summary (the keys of :func:`edgebench.stats.summarize`) from a tool's figures.

    ``runs`` has ``count`` and ``avg`` and whatever else the tool printed (``min``, ``max``,
    ``std``, ``median``/``p50``, ``p90``, ``p5``, ``p95``); ``scale`` converts its unit to ms
    (1e-3 for microseconds). Figures the tool did not print stay None, except the median: a tool
    without percentiles gives its mean in that column and ``latency_figure`` says so.
    """
    def get(*keys: str) -> float | None:
        for key in keys:
            if runs.get(key) is not None:
                return float(runs[key]) * scale
        return None

    n = int(runs.get("count") or 0)
    mean = get("avg", "mean")
    if n < 1 or mean is None:
        raise ValueError("a tool summary needs its run count and average")
    std = get("std")
    median = get("median", "p50")
    lo = hi = None
    if std is not None and n > 1:
        half = t_quantile(1 - (1 - confidence) / 2, n - 1) * std / math.sqrt(n)
        lo, hi = mean - half, mean + half
    return {
        "n_runs": n, "min_ms": get("min"), "median_ms": median if median is not None else mean,
        "mean_ms": mean, "p90_ms": get("p90"), "max_ms": get("max"), "std_ms": std,
        "ci_low_ms": lo, "ci_high_ms": hi, "cv": (std / mean) if std is not None and mean else 0.0,
        "outliers": 0, "first_ms": first_ms, "latency_figure": "median" if median is not None else "mean",
        "percentiles_ms": {k: float(v) * scale for k, v in runs.items()
                           if isinstance(k, str) and k.startswith("p") and k[1:].isdigit() and v is not None},
    }


# -- Welch's t-test --------------------------------------------------------------------------

def welch(mean_a: float, std_a: float, n_a: int, mean_b: float, std_b: float, n_b: int) -> tuple[float, float, float]:
    """Welch's unequal-variance t-test from summary statistics: (t, degrees of freedom, two-sided p)."""
    if n_a < 2 or n_b < 2:
        raise ValueError("Welch's t-test needs at least two runs on each side")
    va, vb = std_a**2 / n_a, std_b**2 / n_b
    if va + vb == 0:
        return (0.0 if mean_a == mean_b else math.copysign(math.inf, mean_b - mean_a)), float(n_a + n_b - 2), \
            (1.0 if mean_a == mean_b else 0.0)
    t = (mean_b - mean_a) / math.sqrt(va + vb)
    df = (va + vb) ** 2 / ((va**2 / (n_a - 1) if va else 0.0) + (vb**2 / (n_b - 1) if vb else 0.0))
    return t, df, two_sided_p(t, df)


def two_sided_p(t: float, df: float) -> float:
    """P(|T| >= |t|) for Student's t with ``df`` degrees of freedom."""
    if math.isinf(t):
        return 0.0
    return min(1.0, _betainc(df / 2, 0.5, df / (df + t * t)))


def t_quantile(p: float, df: float) -> float:
    """The ``p`` quantile of Student's t (bisection on the CDF: only used for intervals)."""
    target = 2 * (1 - p)  # two-sided tail mass at the quantile
    lo, hi = 0.0, 1.0
    while two_sided_p(hi, df) > target:
        hi *= 2
    for _ in range(100):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if two_sided_p(mid, df) > target else (lo, mid)
    return (lo + hi) / 2


def _betainc(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta I_x(a, b) by its continued fraction (Numerical Recipes' form)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x > (a + 1) / (a + b + 2):  # the fraction converges fast only on this side: use the symmetry
        return 1.0 - _betainc(b, a, 1 - x)
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        for num in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                    -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + num / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return math.exp(log_front) * h / a
