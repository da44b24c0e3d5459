"""The ladder's report: results.json, results.md and the plots, rebuilt from the finished rung
folders of an ``--out`` folder (``fmnist-gluon ladder --report`` does only this).

Per rung: mean ± std over seeds of the best and final accuracy, the last-half mean, the seed
post's or the published figure beside it, and (stats) each rung's difference from the rung it
is compared with, with a 95% interval and a Welch test.
"""
import json
import os
import statistics

from . import plot, stats
from .history import History
from .ladder import COMPARE_WITH, INDEPENDENT, PUBLISHED, RUNGS, SEED_REFERENCE
from .utils import atomic_write_text, machine_info

__all__ = ["write_report", "collect_results", "comparison_pairs", "comparisons",
           "results_markdown", "epoch_summary"]


def collect_results(out):
    """All finished results under ``out``, grouped by rung name: ladder order, then the rungs
    not in ``RUNGS`` (a sweep's trials, your own) by name."""
    grouped = {}
    root = os.path.join(out, "rungs")
    found = sorted(os.listdir(root)) if os.path.isdir(root) else []
    for name in [n for n in RUNGS if n in found] + [n for n in found if n not in RUNGS]:
        folder = os.path.join(root, name)
        if not os.path.isdir(folder):
            continue
        for sub in sorted(os.listdir(folder)):
            path = os.path.join(folder, sub, "result.json")
            if os.path.exists(path):
                with open(path) as f:
                    grouped.setdefault(name, []).append(json.load(f))
    return grouped


def _std(values):
    """Sample standard deviation, 0.0 for a single value."""
    return statistics.stdev(values) if len(values) > 1 else 0.0


def epoch_summary(accuracies):
    """Best (with its 1-based epoch), final, and the last half's mean and sd of per-epoch
    accuracies: the figures of one run (the last half's spread shows how noisy "best" is)."""
    best = max(range(len(accuracies)), key=accuracies.__getitem__)  # the first best, as fit's
    half = accuracies[len(accuracies) // 2:]
    return {"best": accuracies[best], "best_epoch": best + 1, "final": accuracies[-1],
            "last_half_mean": statistics.mean(half), "last_half_sd": _std(half)}


def _seed_row(result):
    """One run's figures (percent) for the per-seed table."""
    accs = [100 * e["val_accuracy"] for e in result["history"]["epochs"]]
    return {"seed": result["seed"], **epoch_summary(accs)}


def _summarise(results):
    """Mean, std and the per-seed values of one rung's results."""
    rows = [_seed_row(r) for r in results]
    best, final = [r["best"] for r in rows], [r["final"] for r in rows]
    scored = all("final_val_accuracy_tta" in r for r in results)  # every seed, or not reported
    return {
        "seeds": [r["seed"] for r in results],
        "per_seed": rows,
        "best_val_accuracy_mean": statistics.mean(best),
        "best_val_accuracy_std": _std(best),
        "best_epoch": [r["best_epoch"] for r in results],
        "final_train_accuracy_mean": 100 * statistics.mean(r["final_train_accuracy"] for r in results),
        "final_val_accuracy_mean": statistics.mean(final),
        "final_val_accuracy_std": _std(final),
        "tta": results[0]["config"].get("tta") if scored else None,
        "final_val_accuracy_tta": [100 * r["final_val_accuracy_tta"] for r in results] if scored else None,
        # how noisy "best" is: the spread of val accuracy over the last half of the epochs
        "last_half_val_accuracy_mean": statistics.mean(r["last_half_mean"] for r in rows),
        "last_half_val_accuracy_sd": statistics.mean(r["last_half_sd"] for r in rows),
        "train_seconds_mean": statistics.mean(r["train_seconds"] for r in results),
        "epochs": results[0]["config"]["epochs"],
        "params": results[0]["params"],
        "seed_reference": SEED_REFERENCE.get(results[0]["rung"]),
        "published": PUBLISHED.get(results[0]["rung"]),
        # the 95% t interval of the mean best val accuracy over seeds (None for one seed)
        "best_val_accuracy_ci95": stats.mean_interval(best),
        "train_size": results[0].get("train_size"),
        "val_size": results[0].get("val_size"),
    }


def _fmt_acc(s, which="best"):
    mean, std = s[which + "_val_accuracy_mean"], s[which + "_val_accuracy_std"]
    if len(s["seeds"]) > 1:
        return "%.2f ± %.2f" % (mean, std)
    return "%.2f" % mean


def _reference(s):
    """The figure a rung is compared with: its published one, else the seed post's."""
    return s.get("published") if s.get("published") is not None else s["seed_reference"]


def comparison_pairs(names):
    """(previous, rung) pairs the report tests: COMPARE_WITH where given, else the rung before
    in the report; seed systems (INDEPENDENT) are not compared with their neighbours."""
    pairs = []
    for i, name in enumerate(names):
        if name in COMPARE_WITH:
            if COMPARE_WITH[name] in names:
                pairs.append((COMPARE_WITH[name], name))
        elif i > 0 and name not in INDEPENDENT and names[i - 1] not in INDEPENDENT:
            pairs.append((names[i - 1], name))
    return pairs


def comparisons(summaries):
    """The Welch tests of the report (stats.compare_rungs on the per-seed figures)."""
    per_seed = {name: {metric: [r[metric] for r in s["per_seed"]] for metric in stats.METRICS}
                for name, s in summaries.items()}
    return stats.compare_rungs(per_seed, comparison_pairs(list(summaries)))


def results_markdown(summaries, command=None, machine=None):
    """The post-style table: rung, best val accuracy, epoch of best, final train acc, time, the
    seed's (or published) figure; then whether each rung's gain over the previous is real."""
    lines = []
    if command:
        lines += ["Command: `%s`" % command, ""]
    if machine:
        lines += ["Machine: %s" % "; ".join(", ".join("%s %s" % kv for kv in m.items())
                                            for m in (machine if isinstance(machine, list) else [machine])), ""]
    published = any(s.get("published") is not None for s in summaries.values())
    lines += [
        "| rung | epochs | params | best val acc % | epoch of best | final val acc % "
        "| final train acc % | train time | " + ("published %" if published else "seed's best %") + " |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, s in summaries.items():
        ref = _reference(s)
        lines.append("| %s | %d | %s | %s | %s | %s | %.2f | %.1f min | %s |" % (
            name, s["epochs"], format(s["params"], ","), _fmt_acc(s),
            ", ".join(str(e) for e in s["best_epoch"]), _fmt_acc(s, "final"),
            s["final_train_accuracy_mean"],
            s["train_seconds_mean"] / 60, "%.2f" % ref if ref is not None else "–"))
    sizes = {(s.get("train_size"), s.get("val_size")) for s in summaries.values()}
    if len(sizes) == 1 and None not in next(iter(sizes)):
        n_train, n_val = sizes.pop()
        lines += ["", "Trained on %s images; validation = %s test images (the seed post used the "
                  "60,000 / 10,000 of the full set)." % (format(n_train or 0, ","), format(n_val or 0, ","))]
    lines += ["'best' = the best epoch's validation accuracy (picked on the validation set); "
              "'final' = the last epoch's, which involves no choice; with several seeds, mean ± "
              "std. Train time is per seed (training plus the validation pass of every epoch)."]
    lines += _tta_lines(summaries)
    if any(len(s["seeds"]) > 1 for s in summaries.values()):
        lines += _per_seed_table(summaries)
    lines += stats.published_markdown(summaries)
    lines += stats.markdown(comparisons(summaries))
    return "\n".join(lines) + "\n"


def _tta_lines(summaries):
    """The final networks' accuracy with test-time augmentation, for rungs that ask for it."""
    lines = []
    for name, s in summaries.items():
        values = s.get("final_val_accuracy_tta")
        if values:
            spread = " ± %.2f" % _std(values) if len(values) > 1 else ""
            lines += ["", "%s, the final network with test-time augmentation (tta=%r): val acc "
                      "%.2f%s %% (per seed: %s)." % (name, s["tta"], statistics.mean(values), spread,
                         ", ".join("%.2f" % v for v in values))]
    return lines


def _per_seed_table(summaries):
    """Every run of the rungs with several seeds; the last half's spread shows epoch noise."""
    lines = ["", "Per seed (rungs with several seeds):", "",
             "| rung | seed | best val acc % | epoch of best | last-half val acc % (mean ± sd) "
             "| final val acc % |", "|---|---|---|---|---|---|"]
    for name, s in summaries.items():
        if len(s["seeds"]) > 1:
            lines += ["| %s | %d | %.2f | %d | %.2f ± %.2f | %.2f |" % (
                name, r["seed"], r["best"], r["best_epoch"], r["last_half_mean"],
                r["last_half_sd"], r["final"]) for r in s["per_seed"]]
    return lines


def _machines(grouped, previous):
    """The machine(s) the runs trained on: each result's own record; a result written before
    results carried one is taken to come from the previous report's machine (else this one)."""
    fallback = previous or machine_info()
    found = []
    for results in grouped.values():
        for r in results:
            m = r.get("machine") or fallback
            for one in (m if isinstance(m, list) else [m]):
                if one not in found:
                    found.append(one)
    if not found:
        return fallback
    return found[0] if len(found) == 1 else found


def write_report(out, command=None):
    """Rebuild results.json, results.md and the plots in ``out`` from the finished rung folders."""
    grouped = collect_results(out)
    previous = {}
    if os.path.exists(os.path.join(out, "results.json")):
        with open(os.path.join(out, "results.json"), encoding="utf-8") as f:
            previous = json.load(f)
    if command is None:  # --report keeps the run's command
        command = previous.get("command")
    summaries = {name: _summarise(rs) for name, rs in grouped.items()}
    machine = _machines(grouped, previous.get("machine"))
    report = {"command": command, "machine": machine, "summary": summaries,
              "comparisons": comparisons(summaries), "runs": grouped}
    atomic_write_text(os.path.join(out, "results.json"), json.dumps(report, indent=1))
    atomic_write_text(os.path.join(out, "results.md"), results_markdown(summaries, command, machine))
    if not grouped:
        return report
    for name, rs in grouped.items():
        History.from_dict(rs[0]["history"]).plot(path=os.path.join(out, "curves_%s.png" % name))
    histories = {name: History.from_dict(rs[0]["history"]) for name, rs in grouped.items()}
    plot.plot_ladder(histories, path=os.path.join(out, "ladder_val_accuracy.png"))
    published = any(s.get("published") is not None for s in summaries.values())
    plot.plot_best_bars(
        {n: s["best_val_accuracy_mean"] for n, s in summaries.items()},
        {n: _reference(s) for n, s in summaries.items() if _reference(s) is not None},
        path=os.path.join(out, "best_vs_seed.png"),
        labels=("fmnist_gluon", "published" if published else "seed post"))
    return report
