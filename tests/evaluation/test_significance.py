"""Paired tests of mean differences on hand-checkable cases; the best is bold only when
significantly best."""

import numpy as np
import pytest

from recsys_cli.serving.compare import paired_significance
from recsys_cli.evaluation.significance import (
    paired_pvalue, paired_t_pvalue, sign_flip_pvalue, significantly_best, wilcoxon_pvalue)


def test_exact_sign_flip_by_hand():
    # ±1 ±2 ±3: sums 6, 4, 2, 0, 0, -2, -4, -6; |sum| >= 6 in 2 of 8 sign vectors.
    assert sign_flip_pvalue(np.array([1.0, 2.0, 3.0])) == pytest.approx(0.25)
    # ±1 ±1 ±1 ±1: |sum| = 4 only for all-plus and all-minus: 2 / 16.
    assert sign_flip_pvalue(np.ones(4)) == pytest.approx(0.125)
    assert sign_flip_pvalue(np.zeros(5)) == 1.0


def test_monte_carlo_sign_flip_is_seeded_and_agrees_with_the_t_test_on_a_large_sample():
    rng = np.random.default_rng(3)
    diff = rng.normal(0.05, 1.0, 2000)
    p = sign_flip_pvalue(diff, seed=1)
    assert p == sign_flip_pvalue(diff, seed=1)
    assert p == pytest.approx(paired_t_pvalue(diff), abs=0.02)


def test_paired_t_by_hand():
    # mean 2, sd 1, n 3: t = 2 * sqrt(3) = 3.4641 with 2 degrees of freedom -> p = 0.07418
    assert paired_t_pvalue(np.array([1.0, 2.0, 3.0])) == pytest.approx(0.07418, abs=1e-5)


def test_wilcoxon_and_the_mean_tests_disagree_where_the_mean_does_not_move():
    # 30 users gain 0.1, 2 users lose 1.5: the mean difference is exactly 0, but the
    # positive ranks (1..30, sum 465) dwarf the negative ones (31 + 32 = 63).
    diff = np.array([0.1] * 30 + [-1.5] * 2)
    assert diff.sum() == pytest.approx(0.0, abs=1e-12)
    assert wilcoxon_pvalue(diff) < 0.01
    assert paired_pvalue(diff, "permutation") > 0.9
    assert paired_pvalue(diff, "t") > 0.9


def test_verdicts_follow_the_holm_adjusted_mean_test_not_wilcoxon():
    a = np.array([0.1] * 30 + [0.0] * 2 + [0.5] * 8)
    b = np.array([0.0] * 30 + [1.5] * 2 + [0.5] * 8)
    table = paired_significance({"a": a, "b": b}, "mrr@10")
    assert table["verdict"].to_list() == ["not significant"]
    wilcoxon = paired_significance({"a": a, "b": b}, "mrr@10", test="wilcoxon")
    assert wilcoxon["verdict"].to_list() == ["a better"] and wilcoxon["test"][0] == "wilcoxon"


def test_intervals_are_bonferroni_over_the_pairs():
    rng = np.random.default_rng(0)
    per_user = {name: rng.random(200) for name in "abcd"}  # 6 pairs
    table = paired_significance(per_user, "mrr@10")
    assert table["ci_level"].to_list() == pytest.approx([1 - 0.05 / 6] * 6)
    narrow = paired_significance({"a": per_user["a"], "b": per_user["b"]}, "mrr@10")
    wide = table.filter((table["model_a"] == "a") & (table["model_b"] == "b"))
    assert wide["ci_high"][0] - wide["ci_low"][0] > narrow["ci_high"][0] - narrow["ci_low"][0]


def test_significantly_best():
    rng = np.random.default_rng(1)
    base = rng.random(300)
    assert significantly_best({"strong": base + 0.1, "base": base, "other": base + 0.01 * rng.standard_normal(300)}) == "strong"
    # best by a hair over one rival: no bold
    assert significantly_best({"a": base + 1e-4 * rng.standard_normal(300), "b": base}) is None
    assert significantly_best({"low": base - 0.1, "base": base}, higher_is_better=False) == "low"
    assert significantly_best({"same": base, "copy": base.copy()}) is None
    assert significantly_best({"alone": base}) is None
