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
    if n > 200:  # normal approximation of the binomial: equal to the exact ranks from n = 50 on, and
        # the exact sum below would overflow (2^n) for the thousands of timings a pooled row has
        z = statistics.NormalDist().inv_cdf(1 - alpha / 2)
        lo = math.floor(n / 2 - z * math.sqrt(n) / 2) - 1
        hi = math.ceil(1 + n / 2 + z * math.sqrt(n) / 2) - 1
        return sorted_values[max(lo, 0)], sorted_values[min(hi, n - 1)]
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


# the summary figures a result row stores (from raw timings, or from a native tool's own summary)
SUMMARY_COLUMNS = ("first_ms", "min_ms", "median_ms", "mean_ms", "p90_ms", "max_ms", "std_ms", "ci_low_ms",
                   "ci_high_ms", "n_runs")


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
    if summary["min_ms"] is not None and summary["min_ms"] < RESOLUTION_MS * 10:
        warnings.append(Warning_(
            "resolution", f"fastest run {summary['min_ms']:.4f} ms is near the timer resolution",
            "use a larger input size"))
    if summary["n_runs"] < 6:
        warnings.append(Warning_(
            "few-runs", f"only {summary['n_runs']} timed runs: the median's interval is the full range",
            "use --runs 10 or more"))
    cooled = (thermal or {}).get("cooldown")
    if cooled and cooled.get("reached", True) is None:
        warnings.append(Warning_(
            "thermal-unknown", "the device's temperature could not be read, so --cool-to could not wait for it",
            "check /sys/class/thermal on the device (permissions, SELinux) or set thermal = false in the profile"))
    elif cooled and not cooled.get("reached", True):
        peak = max((cooled.get("end") or {}).values(), default=None)
        waited = f"{cooled['waited_s']:.0f} s"
        below = f"below {cooled['threshold_c']:g} °C"
        message = (f"device was still {peak:.1f} °C after waiting {waited} for it to cool {below}"
                   if peak is not None else f"device did not cool {below} in {waited}")
        warnings.append(Warning_(
            "hot-start", message,
            "the device may throttle: let it cool longer (--cool-timeout) or improve its cooling"))
    rise = temperature_rise(thermal)
    if rise is not None and rise >= HOT_RISE_C:
        warnings.append(Warning_(
            "thermal", f"device warmed by {rise:.1f} °C during the measurement",
            "throttling may have slowed later runs; use --cool-to to start each measurement cool"))
    return warnings


def temperature_rise(thermal: dict[str, dict[str, float]] | None) -> float | None:
    if not thermal or not thermal.get("before") or not thermal.get("after"):
        return None
    rises = [thermal["after"][k] - v for k, v in thermal["before"].items() if k in thermal["after"]]
    return max(rises) if rises else None


# -- drift, pooling, comparison (leaderboard and `edgebench compare`) ----------------------------

DRIFT_LIMIT = 0.10  # last third of runs >= 10 % slower than the first third: throttling suspected
RUN_SPREAD_LIMIT = 0.05  # per-run medians of one configuration spread by >= 5 % (CV)


def drift(timings_ms: Sequence[float]) -> Warning_ | None:
    """Flag a steady slowdown over the timed runs, the usual mark of thermal throttling.

    Works without temperature sensors: compares the median of the last third of the runs (in the
    order they ran) with the median of the first third; the difference must be >= 10 % and
    significant (Mann-Whitney U, p < 0.01). Needs at least 9 runs.
    """
    n = len(timings_ms)
    if n < 9:
        return None
    third = n // 3
    head, tail = timings_ms[:third], timings_ms[-third:]
    first, last = statistics.median(head), statistics.median(tail)
    if first <= 0 or last / first - 1 < DRIFT_LIMIT:
        return None
    if mann_whitney(head, tail).p >= 0.01:  # noisy runs can differ by 10 % by chance: not a trend
        return None
    return Warning_(
        "drift", f"the last third of the runs is {last / first - 1:.0%} slower than the first third",
        "thermal throttling or a growing background load; use --cooldown and check the device temperature")


def pool(groups: Sequence[Sequence[float]]) -> dict[str, Any]:
    """Combine repeated results of one configuration (each a list of raw timings in ms).

    The median is that of every raw timing pooled together. Its interval covers both the sampling
    error of the pooled timings (order statistics) and the run-to-run spread: with two or more
    results it is widened to the order-statistics interval of the per-result medians (for fewer
    than 6 results that is their full range), so a shift between runs is never hidden.
    """
    groups = [g for g in groups if g]
    if not groups:
        raise ValueError("nothing to pool")
    values = [v for g in groups for v in g]
    values.sort()
    return pool_figures(*order_stats(values), [statistics.median(g) for g in groups])


def order_stats(sorted_values: Sequence[float]) -> tuple[Any, int, Any, Any]:
    """Median, count and 95 % interval of the median of sorted timings: all :func:`pool` needs of the
    raw timings themselves, so a store can keep these per configuration instead of re-reading them."""
    lo, hi = median_ci(sorted_values)
    return statistics.median(sorted_values), len(sorted_values), lo, hi


def pool_figures(median: Any, n_runs: int, lo: Any, hi: Any, medians: Sequence[float]) -> dict[str, Any]:
    """:func:`pool`'s result from the pooled timings' :func:`order_stats` and each result's median."""
    run_medians = sorted(medians)
    out: dict[str, Any] = {"median_ms": median, "n_runs": n_runs,
                           "n_pooled": len(run_medians), "run_medians": run_medians, "run_cv": 0.0}
    if len(run_medians) > 1:
        run_lo, run_hi = median_ci(run_medians)
        lo, hi = min(lo, run_lo), max(hi, run_hi)
        mean = statistics.fmean(run_medians)
        var = sum((m - mean) ** 2 for m in run_medians) / (len(run_medians) - 1)  # floats: fast on big boards
        out["run_cv"] = math.sqrt(var) / mean if mean else 0.0
    out["ci_low_ms"], out["ci_high_ms"] = lo, hi
    return out


def fmt_sig(value: float, digits: int = 3) -> str:
    """``digits`` significant digits in plain notation: 572, 12.5, 0.734 (never ``572.`` or ``5.72e+02``)."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(value))))
    if decimals and abs(float(f"{value:.{decimals}f}")) >= 10 ** (digits - decimals):
        decimals -= 1  # rounding carried into a new digit: 9.996 is 10.0, not 10.00
    return f"{value:.{decimals}f}"


def run_spread(pooled: dict[str, Any]) -> Warning_ | None:
    """Warn when the per-result medians of a pooled configuration disagree."""
    if pooled["n_pooled"] < 2 or pooled["run_cv"] < RUN_SPREAD_LIMIT:
        return None
    meds = pooled["run_medians"]  # in result order: the range is their min and max
    return Warning_(
        "run-spread", f"medians of the {len(meds)} pooled results spread by {pooled['run_cv']:.0%} "
        f"({fmt_sig(min(meds))}–{fmt_sig(max(meds))} ms)",
        "the machine changed between runs (temperature, load, governor); use --cooldown, pin cores, rerun")


@dataclass(frozen=True)
class MannWhitney:
    u: float  # U of the first sample: how often a value of `a` beats (is above) one of `b`
    p: float  # two-sided p-value
    method: str  # "exact" or "normal"


def _u_distribution(m: int, n: int) -> list[int]:
    """Counts of each U value (0..m·n) under H0 without ties: the Gaussian binomial [m+n, m]_q."""
    poly = [1]
    for i in range(1, m + 1):
        # multiply by (1 - q^(n+i)) ...
        grown = poly + [0] * (n + i)
        for k in range(len(poly)):
            grown[k + n + i] -= poly[k]
        # ... and divide exactly by (1 - q^i): running sums with stride i
        for k in range(i, len(grown)):
            grown[k] += grown[k - i]
        poly = grown[: m * n + 1] if len(grown) > m * n + 1 else grown
    return poly[: m * n + 1]


def mann_whitney(a: Sequence[float], b: Sequence[float]) -> MannWhitney:
    """Two-sided Mann-Whitney U test (no distribution assumed; pure Python).

    Exact p-value for small samples without ties, else the normal approximation with tie and
    continuity corrections.
    """
    m, n = len(a), len(b)
    if not m or not n:
        raise ValueError("Mann-Whitney U needs two non-empty samples")
    ranked = sorted([(v, 0) for v in a] + [(v, 1) for v in b])
    ranks = [0.0] * len(ranked)
    ties = 0.0
    i = 0
    while i < len(ranked):  # average ranks over ties
        j = i
        while j + 1 < len(ranked) and ranked[j + 1][0] == ranked[i][0]:
            j += 1
        for k in range(i, j + 1):
            ranks[k] = (i + j) / 2 + 1
        t = j - i + 1
        ties += t**3 - t
        i = j + 1
    rank_sum_a = sum(r for r, (_, g) in zip(ranks, ranked) if g == 0)
    u = rank_sum_a - m * (m + 1) / 2
    if ties == 0 and m * n * min(m, n) <= 200_000:
        counts = _u_distribution(m, n)
        total = sum(counts)
        k = int(round(u))
        low, high = sum(counts[: k + 1]) / total, sum(counts[k:]) / total
        return MannWhitney(u, min(1.0, 2 * min(low, high)), "exact")
    mu = m * n / 2
    var = m * n / 12 * ((m + n + 1) - ties / ((m + n) * (m + n - 1)))
    if var <= 0:  # every value identical
        return MannWhitney(u, 1.0, "normal")
    z = (abs(u - mu) - 0.5) / math.sqrt(var)
    return MannWhitney(u, min(1.0, math.erfc(max(z, 0.0) / math.sqrt(2))), "normal")


def bootstrap_ratio_ci(a: Sequence[float], b: Sequence[float], confidence: float = 0.95,
                       n_boot: int = 2000, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of median(b) / median(a), resampling each sample on its own.

    Seeded, so the same data always gives the same interval.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    xa, xb = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    ma = np.median(xa[rng.integers(0, len(xa), (n_boot, len(xa)))], axis=1)
    mb = np.median(xb[rng.integers(0, len(xb), (n_boot, len(xb)))], axis=1)
    ratios = mb / ma
    tail = (1 - confidence) / 2 * 100
    lo, hi = np.percentile(ratios, [tail, 100 - tail])
    return float(lo), float(hi)
