"""Latency statistics and stability warnings.

Every raw timing is kept; the summary adds a distribution-free confidence interval of the median
(order statistics) and warnings in the spirit of pyperf's checks and hyperfine's outlier test:
high spread, outliers by the modified z-score on the MAD, a slow first run, timings near the
timer's resolution, a temperature rise.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass
from typing import Any, Sequence


@dataclass(frozen=True)
class Warning_:
    code: str
    message: str
    hint: str = ""

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


CV_LIMIT = 0.10  # pyperf: stdev >= 10 % of the mean is unstable
OUTLIER_Z = 3.5  # modified z-score threshold (Iglewicz & Hoaglin)
RESOLUTION_MS = 0.01
HOT_RISE_C = 5.0


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile of already sorted values (q in [0, 100])."""
    if not sorted_values:
        raise ValueError("percentile of no values")
    pos = (len(sorted_values) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def median_ci(sorted_values: Sequence[float], confidence: float = 0.95) -> tuple[float, float]:
    """Confidence interval of the median from order statistics (binomial, no distribution assumed)."""
    n = len(sorted_values)
    if n < 6:  # too few runs for a 95 % interval: report the full range
        return sorted_values[0], sorted_values[-1]
    alpha = 1.0 - confidence
    # smallest k with P(Binomial(n, 1/2) <= k-1) >= alpha/2 bounds the interval from below
    cdf, k = 0.0, 0
    while k < n:
        cdf += math.comb(n, k) / 2.0**n
        if cdf > alpha / 2:
            break
        k += 1
    lo, hi = max(k - 1, 0), min(n - k, n - 1)
    return sorted_values[lo], sorted_values[hi]


def mad_outliers(values: Sequence[float]) -> int:
    med = statistics.median(values)
    mad = statistics.median(abs(v - med) for v in values)
    if mad == 0:
        return 0
    return sum(1 for v in values if abs(0.6745 * (v - med) / mad) > OUTLIER_Z)


def summarize(timings_ms: Sequence[float], first_ms: float | None = None) -> dict[str, Any]:
    """Summary figures of timed runs (milliseconds)."""
    if not timings_ms:
        raise ValueError("no timed runs to summarize")
    values = sorted(timings_ms)
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    lo, hi = median_ci(values)
    return {
        "n_runs": len(values),
        "min_ms": values[0],
        "median_ms": statistics.median(values),
        "mean_ms": mean,
        "p90_ms": percentile(values, 90),
        "max_ms": values[-1],
        "std_ms": std,
        "ci_low_ms": lo,
        "ci_high_ms": hi,
        "cv": std / mean if mean else 0.0,
        "outliers": mad_outliers(values),
        "first_ms": first_ms,
    }


def check(summary: dict[str, Any], thermal: dict[str, dict[str, float]] | None = None) -> list[Warning_]:
    """Stability warnings for a summary, each with a hint on what to do."""
    warnings: list[Warning_] = []
    cv = summary["cv"]
    if cv >= CV_LIMIT:
        warnings.append(Warning_(
            "high-cv", f"run-to-run spread is {cv:.0%} of the mean",
            "use more runs (--runs, --min-time), close other programs, pin cores (affinity in the profile)"))
    n_out = summary["outliers"]
    if n_out:
        warnings.append(Warning_(
            "outliers", f"{n_out} of {summary['n_runs']} runs are outliers (MAD z > {OUTLIER_Z})",
            "another process or frequency scaling interfered; rerun or add --warmup"))
    first = summary.get("first_ms")
    if first and summary["median_ms"] and first > 3 * summary["median_ms"] and first - summary["median_ms"] > 1:
        warnings.append(Warning_(
            "slow-first", f"first inference took {first:.1f} ms, {first / summary['median_ms']:.1f}x the median",
            "normal for lazy initialisation; keep warm-up runs"))
    if summary["min_ms"] < RESOLUTION_MS * 10:
        warnings.append(Warning_(
            "resolution", f"fastest run {summary['min_ms']:.4f} ms is near the timer resolution",
            "use a larger input size"))
    if summary["n_runs"] < 6:
        warnings.append(Warning_(
            "few-runs", f"only {summary['n_runs']} timed runs: the median's interval is the full range",
            "use --runs 10 or more"))
    rise = temperature_rise(thermal)
    if rise is not None and rise >= HOT_RISE_C:
        warnings.append(Warning_(
            "thermal", f"device warmed by {rise:.1f} °C during the measurement",
            "throttling may have slowed later runs; use --cooldown"))
    return warnings


def temperature_rise(thermal: dict[str, dict[str, float]] | None) -> float | None:
    if not thermal or not thermal.get("before") or not thermal.get("after"):
        return None
    rises = [thermal["after"][k] - v for k, v in thermal["before"].items() if k in thermal["after"]]
    return max(rises) if rises else None
