"""Welch's t-test and the ladder report's "is each gain real?" section, against known values."""
import json
import statistics
import os

import pytest

from fmnist_gluon import ladder, stats

# Wikipedia, "Welch's t-test", examples 1 and 2 (t, df and p as printed there).
WIKI_1 = ([27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1, 21.9, 22.6, 23.1, 19.6, 19.0, 21.7, 21.4],
          [27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0, 24.8, 20.2, 21.9, 22.1, 22.9, 20.5, 24.4])
WIKI_2 = ([17.2, 20.9, 22.6, 18.1, 21.7, 21.4, 23.5, 24.2, 14.7, 21.8],
          [21.5, 22.8, 21.0, 23.0, 21.6, 23.6, 22.5, 20.7, 23.4, 21.8, 20.7, 21.7, 21.5, 22.5,
           23.6, 21.5, 22.5, 23.5, 21.5, 21.8])

# docs/results/full: the adam and bn rungs' best val accuracy per seed (3 seeds each).
ADAM = [92.69, 92.38, 92.51]
BN = [92.27, 92.51, 93.01]


@pytest.mark.parametrize("a, b, t, df, p", [(*WIKI_1, 2.46, 25.0, 0.021), (*WIKI_2, 1.57, 9.9, 0.149)])
def test_welch_matches_the_textbook_examples(a, b, t, df, p):
    result = stats.welch(a, b)  # Wikipedia prints t of mean(a) - mean(b) (< 0); ours is b - a
    assert round(result["t"], 2) == t and round(result["df"], 1) == df and round(result["p"], 3) == p
    low, high = result["ci"]
    assert low < result["difference"] < high
    # the interval excludes 0 exactly when p < 0.05
    assert (low > 0) == (result["p"] < 0.05)
    swapped = stats.welch(b, a)
    assert swapped["t"] == pytest.approx(-result["t"]) and swapped["p"] == pytest.approx(result["p"])


def test_welch_interval_by_hand():
    # difference 1.0, variances 1/3 + 1/3, df = (2/3)^2 / (2 * (1/3)^2 / 2) = 4, t(0.975, 4) = 2.7764
    result = stats.welch([0.0, 1.0, 2.0], [1.0, 2.0, 3.0])
    half = 2.7764451051977987 * (2 / 3) ** 0.5
    assert result["df"] == pytest.approx(4.0)
    assert result["ci"] == pytest.approx([1.0 - half, 1.0 + half])


def test_welch_edge_cases():
    with pytest.raises(ValueError, match="at least 2 values in each sample"):
        stats.welch([92.0], [93.0, 93.5])
    flat = stats.welch([92.0, 92.0], [93.0, 93.0])
    assert flat["difference"] == 1.0 and flat["p"] is None and stats.verdict(flat) == "untested"


def test_mean_interval():
    low, high = stats.mean_interval([1.0, 2.0, 3.0])  # mean 2, sd 1, t(0.975, 2) = 4.3027
    assert (low, high) == pytest.approx((2 - 4.302652729911275 / 3 ** 0.5, 2 + 4.302652729911275 / 3 ** 0.5))
    assert stats.mean_interval([1.0]) is None


def test_bn_over_adam_is_called_noise_and_a_big_gap_real():
    rows = stats.compare_rungs({"adam": {"best": ADAM, "final": ADAM},
                                "bn": {"best": BN, "final": BN},
                                "big": {"best": [95.0, 95.1, 95.2], "final": [95.0, 95.1, 95.2]},
                                "one": {"best": [96.0], "final": [96.0]}})
    by = {(r["rung"], r["metric"]): r for r in rows}
    bn = by["bn", "best"]
    assert bn["previous"] == "adam" and bn["difference"] == pytest.approx(0.07, abs=1e-9)
    assert bn["p"] > 0.5 and stats.verdict(bn) == "noise"
    assert stats.verdict(by["big", "best"]) == "real"
    assert by["one", "best"]["untestable"] == "one has 1 seed"
    text = "\n".join(stats.markdown(rows))
    assert "bn − adam, best val acc: +0.07 points" in text
    assert "**not distinguishable from seed noise**" in text
    assert "big − bn, best val acc" in text and ": distinguishable from seed noise." in text
    assert "untested (one has 1 seed)" in text


def test_report_of_the_full_ladder_says_bn_is_noise(tmp_path):
    # the real result folders of docs/results/full, rebuilt into a copy
    source = os.path.join(os.path.dirname(__file__), "..", "docs", "results", "full")
    out = tmp_path / "full"
    for name in ("adam", "bn"):
        for seed in range(3):
            path = os.path.join(source, "rungs", name, "seed-%d" % seed, "result.json")
            target = out / "rungs" / name / ("seed-%d" % seed)
            target.mkdir(parents=True)
            (target / "result.json").write_text(open(path).read())
    report = ladder.write_report(str(out))
    best = [r for r in report["comparisons"] if r["metric"] == "best"][0]
    assert (best["rung"], best["previous"]) == ("bn", "adam") and best["p"] > 0.05
    text = (out / "results.md").read_text()
    assert "bn − adam, best val acc: +0.07 points" in text and "not distinguishable" in text
    assert json.loads((out / "results.json").read_text())["comparisons"] == report["comparisons"]
    assert report["summary"]["bn"]["best_val_accuracy_ci95"][0] < 92.60 < \
        report["summary"]["bn"]["best_val_accuracy_ci95"][1]


def test_a_ladder_tests_neighbours_and_seed_systems_only_their_variants():
    assert ladder.comparison_pairs(["baseline", "adam", "bn", "dropout"]) == [
        ("baseline", "adam"), ("adam", "bn"), ("bn", "dropout")]
    assert ladder.comparison_pairs(["dense", "dense-lr0.01", "cnn2", "lenet5", "mobilenet",
                                    "mobilenet-flip"]) == [("dense", "dense-lr0.01"),
                                                           ("mobilenet", "mobilenet-flip")]
    assert ladder.comparison_pairs(["bn", "dense", "mobilenet-flip"]) == []


def summary_of(best, published):
    mean = sum(best) / len(best)
    return {"seeds": list(range(len(best))), "best_val_accuracy_mean": mean,
            "best_val_accuracy_std": statistics.stdev(best) if len(best) > 1 else 0.0,
            "best_val_accuracy_ci95": stats.mean_interval(best), "published": published}


def test_published_figures_are_judged_by_the_half_point_bar_and_our_interval():
    lines = stats.published_markdown({
        "close": summary_of([88.7, 88.9, 89.0], 88.9),
        "far": summary_of([80.16, 80.09, 80.14], 83.86),
        "one": summary_of([92.0], 92.9),
        "ladder": summary_of([92.0, 92.1], None)})
    rows = {line.split(" | ")[0][2:]: line for line in lines if line.startswith("| ") and "---" not in line}
    assert "yes (within 0.5)" in rows["close"]
    assert "-3.73" in rows["far"] and "no: published is outside our interval" in rows["far"]
    assert "no (gap > 0.5)" in rows["one"] and "| – |" in rows["one"]
    assert "ladder" not in rows
    assert stats.published_markdown({"ladder": summary_of([92.0, 92.1], None)}) == []
