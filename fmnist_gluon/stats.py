"""Is a gain real? Welch's t-test between two rungs' per-seed accuracies, for the ladder report.

With a few seeds per rung, a difference of a tenth of a point can be seed noise. ``welch``
returns the difference of the means with its 95% confidence interval and the two-sided p-value
of Welch's unequal-variance t-test (``scipy.stats.ttest_ind(equal_var=False)``: scipy comes with
gluoncv, and its t distribution is exact where a hand-written one would need its own tests).
``compare_rungs`` tests each rung against the one before it in the report; ``markdown`` writes
the table and one plain sentence per comparison. A difference is called *distinguishable from
noise* when p < 0.05 (equivalently: the 95% interval excludes 0); that is a statement about
these seeds, not a proof, and with 2-3 seeds per rung only large gains pass.
"""
import math
import statistics

from scipy import stats as _scipy_stats

__all__ = ["welch", "mean_interval", "compare_rungs", "verdict", "markdown", "published_markdown",
           "ALPHA", "METRICS"]

ALPHA = 0.05  # two-sided; the interval is the (1 - ALPHA) = 95% one
METRICS = {"best": "best val acc", "final": "final val acc"}


def welch(a, b, confidence=1 - ALPHA):
    """Welch's test of mean(b) - mean(a) for two samples of at least two values each.

    Returns a dict: ``difference``, ``ci`` (low, high) at ``confidence``, ``t``, ``df``
    (Welch-Satterthwaite), ``p`` (two-sided), ``n`` (len(a), len(b)). When both samples have
    zero variance the test is undefined: t, df, p and the interval are None.
    """
    a, b = [float(v) for v in a], [float(v) for v in b]
    if len(a) < 2 or len(b) < 2:
        raise ValueError("welch: expected at least 2 values in each sample (seeds), got %d and %d"
                         % (len(a), len(b)))
    out = {"difference": statistics.mean(b) - statistics.mean(a), "n": [len(a), len(b)],
           "t": None, "df": None, "p": None, "ci": None}
    if statistics.variance(a) == 0 and statistics.variance(b) == 0:
        return out
    result = _scipy_stats.ttest_ind(b, a, equal_var=False)
    low, high = result.confidence_interval(confidence)
    out.update(t=float(result.statistic), df=float(result.df), p=float(result.pvalue),
               ci=[float(low), float(high)])
    return out


def mean_interval(values, confidence=1 - ALPHA):
    """(low, high): the t interval of the mean of ``values`` (at least 2), or None."""
    values = [float(v) for v in values]
    if len(values) < 2:
        return None
    sd = statistics.stdev(values)
    half = _scipy_stats.t.ppf(0.5 + confidence / 2, len(values) - 1) * sd / math.sqrt(len(values))
    mean = statistics.mean(values)
    return [mean - half, mean + half]


def compare_rungs(per_seed, pairs=None):
    """Welch tests between rungs: ``per_seed`` is {rung: {"best": [...], "final": [...]}} in
    report order; ``pairs`` lists (previous, rung) to test (default: each rung against the one
    before it). Returns a list of {"rung", "previous", "metric", ...welch} (or ``"untestable":
    reason`` when either rung has fewer than 2 seeds)."""
    names = list(per_seed)
    rows = []
    for previous, rung in (zip(names, names[1:]) if pairs is None else pairs):
        for metric in METRICS:
            a, b = per_seed[previous][metric], per_seed[rung][metric]
            row = {"rung": rung, "previous": previous, "metric": metric}
            if len(a) < 2 or len(b) < 2:
                row["difference"] = statistics.mean(b) - statistics.mean(a)
                row["untestable"] = "%s has %d seed%s" % (
                    (previous, len(a), "" if len(a) == 1 else "s") if len(a) < 2
                    else (rung, len(b), "" if len(b) == 1 else "s"))
            else:
                row.update(welch(a, b))
            rows.append(row)
    return rows


def verdict(row):
    """'real', 'noise' or 'untested': is the difference distinguishable from seed noise?"""
    if row.get("p") is None:
        return "untested"
    return "real" if row["p"] < ALPHA else "noise"


def _sentence(row):
    what = "%s − %s, %s: %+.2f points" % (row["rung"], row["previous"], METRICS[row["metric"]],
                                           row["difference"])
    if row.get("untestable"):
        return "%s; not tested (%s: a spread needs at least 2 seeds per rung)." % (
            what, row["untestable"])
    if row["p"] is None:
        return "%s; not tested (no spread between seeds)." % what
    ci = "95%% CI %+.2f to %+.2f, p = %.3g, %d vs %d seeds" % (
        row["ci"][0], row["ci"][1], row["p"], row["n"][1], row["n"][0])
    if verdict(row) == "real":
        return "%s (%s): distinguishable from seed noise." % (what, ci)
    return "%s (%s): **not distinguishable from seed noise**." % (what, ci)


def markdown(rows):
    """The report's "Is each gain real?" section (lines), or [] when no rung has 2+ seeds."""
    if not any(row.get("p") is not None for row in rows):
        return []
    lines = ["", "Is each gain real? Each rung against the rung it changes (the one before it in "
             "a ladder): the difference of the means over seeds (percentage points), its 95%% confidence "
             "interval and the p-value of Welch's t-test (unequal variances). p ≥ %.2f means the "
             "difference is not distinguishable from seed-to-seed noise." % ALPHA, "",
             "| rung | vs | metric | difference | 95% CI | Welch t | df | p | verdict |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        if row.get("p") is None:
            lines.append("| %s | %s | %s | %+.2f | – | – | – | – | %s |" % (
                row["rung"], row["previous"], METRICS[row["metric"]], row["difference"],
                "untested (%s)" % row["untestable"] if row.get("untestable") else "untested"))
        else:
            lines.append("| %s | %s | %s | %+.2f | %+.2f to %+.2f | %.2f | %.1f | %.3g | %s |" % (
                row["rung"], row["previous"], METRICS[row["metric"]], row["difference"],
                row["ci"][0], row["ci"][1], row["t"], row["df"], row["p"], verdict(row)))
    lines += [""] + [_sentence(row) for row in rows if row.get("p") is not None]
    return lines


def published_markdown(summaries, tolerance=0.5):
    """Lines comparing each rung's mean best val accuracy with its published figure (rungs with
    a ``published`` figure only): the gap, our mean's 95% interval, and whether the gap is
    within ``tolerance`` points (issue 18's bar) or outside our interval."""
    rows = [(name, s) for name, s in summaries.items() if s.get("published") is not None]
    if not rows:
        return []
    lines = ["", "Against the published figures: our mean best val accuracy over seeds, the 95%% "
             "t interval of that mean (2+ seeds), and our mean − published. A gap within %.1f "
             "points counts as reproduced." % tolerance, "",
             "| rung | seeds | ours % | 95% CI of our mean | published % | ours − published | "
             "reproduced? |", "|---|---|---|---|---|---|---|"]
    for name, s in rows:
        mean, gap = s["best_val_accuracy_mean"], s["best_val_accuracy_mean"] - s["published"]
        ci = s.get("best_val_accuracy_ci95")
        spread = " ± %.2f" % s["best_val_accuracy_std"] if len(s["seeds"]) > 1 else ""
        if abs(gap) <= tolerance:
            verdict_text = "yes (within %.1f)" % tolerance
        elif ci and not ci[0] <= s["published"] <= ci[1]:
            verdict_text = "no: published is outside our interval"
        else:
            verdict_text = "no (gap > %.1f)" % tolerance
        lines.append("| %s | %d | %.2f%s | %s | %.2f | %+.2f | %s |" % (
            name, len(s["seeds"]), mean, spread, "%.2f to %.2f" % tuple(ci) if ci else "–",
            s["published"], gap, verdict_text))
    return lines
