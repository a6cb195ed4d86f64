"""`recsys compare`: list agreement by hand, significance on constructed cases, end to end."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml

from recsys_cli.run import run_experiment
from recsys_cli.serving.compare import choose_anchors, list_agreement, paired_significance
from recsys_cli.evaluation.significance import holm

from conftest import ML_LATEST_SMALL

ROOT = Path(__file__).resolve().parents[2]


def test_a_list_agrees_fully_with_itself_and_not_at_all_with_a_disjoint_one():
    a = np.array([[1, 2, 3, 4], [9, 8, 7, 6]])
    same = list_agreement(a, a)
    assert same["overlap"].tolist() == [1.0, 1.0] and same["jaccard"].tolist() == [1.0, 1.0]
    assert same["rbo"] == pytest.approx([1.0, 1.0])
    disjoint = list_agreement(a, a + 100)
    assert disjoint["overlap"].tolist() == [0.0, 0.0] and disjoint["rbo"].tolist() == [0.0, 0.0]
    padded = np.array([[1, -1, -1, -1]])  # short lists are padded with -1, which matches nothing
    assert list_agreement(padded, padded)["overlap"].tolist() == [0.25]


def test_rbo_against_a_hand_computed_case():
    # A = [1, 2, 3], B = [1, 3, 4]: prefix overlaps X1 = 1, X2 = 1, X3 = 2; p = 0.9
    p = 0.9
    expected = 2 / 3 * p**3 + (1 - p) / p * (1 / 1 * p + 1 / 2 * p**2 + 2 / 3 * p**3)
    result = list_agreement(np.array([[1, 2, 3]]), np.array([[1, 3, 4]]), p=p)
    assert result["rbo"][0] == pytest.approx(expected)  # 0.6850
    assert result["overlap"][0] == pytest.approx(2 / 3) and result["jaccard"][0] == pytest.approx(2 / 4)
    swapped = list_agreement(np.array([[1, 2, 3]]), np.array([[2, 1, 3]]))
    assert swapped["overlap"][0] == 1.0 and swapped["rbo"][0] < 1.0  # same set, other order


def test_holm_by_hand():
    assert holm(np.array([0.01, 0.04, 0.03])) == pytest.approx([0.03, 0.06, 0.06])


def test_significance_on_a_constructed_case():
    rng = np.random.default_rng(0)
    base = rng.random(400)
    per_user = {
        "strong": base + 0.1,  # better for every user
        "base": base,
        "noisy": base + rng.normal(0, 0.01, 400) * np.where(np.arange(400) % 2, 1, -1),  # centred on base
    }
    table = {(r["model_a"], r["model_b"]): r for r in paired_significance(per_user, "mrr@100").to_dicts()}
    assert table[("strong", "base")]["verdict"] == "strong better"
    assert table[("strong", "base")]["difference"] == pytest.approx(0.1)
    assert table[("strong", "base")]["ci_low"] > 0.09
    assert table[("base", "noisy")]["verdict"] == "not significant"
    assert table[("strong", "noisy")]["verdict"] == "strong better"


def test_anchors_are_the_top_items_plus_a_stratified_seeded_sample():
    popularity = np.arange(1000, 0, -1).astype(float)
    items, strata = choose_anchors(popularity, 65, seed=1)
    assert items[:5].tolist() == [0, 1, 2, 3, 4] and list(strata[:5]) == ["top"] * 5
    assert {"head", "torso", "tail"} <= set(strata) and len(set(items.tolist())) == len(items) == 65
    assert np.array_equal(items, choose_anchors(popularity, 65, seed=1)[0])


@pytest.fixture
def run_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copy(ROOT / "configs" / "ci-smoke.yaml", tmp_path / "smoke.yaml")
    return Path(run_experiment(tmp_path / "smoke.yaml", tmp_path / "runs")["path"])


def test_compare_end_to_end(cli, run_folder):
    items = pl.read_parquet(Path("data/ci-smoke/items.parquet"))
    name = items["name"][0]
    result = cli("compare", run_folder, "--k", "5", "--anchors", "50", "--item-name", name.upper(), "--json")
    assert result.code == 0, result.err
    summary = result.json()
    pairs = {(r["model_a"], r["model_b"]) for r in summary["similar_agreement"]}
    assert pairs == {("i2i", "ials"), ("i2i", "ease"), ("ials", "ease")}  # popularity has no similar items
    assert len(summary["recommendation_agreement"]) == 6 and len(summary["significance"]) == 6
    out = run_folder / "compare"
    for name_ in ("similar_overlap.png", "similar_rbo.png", "recommendation_overlap.png", "similarity_values.png",
                  "similar_agreement.parquet", "significance.parquet", "side_by_side.parquet", "compare.json"):
        assert (out / name_).exists(), name_
    side = pl.read_parquet(out / "side_by_side.parquet")
    assert side.columns == ["anchor", "rank", "i2i", "ials", "ease"] and side.height == 5
    assert "## Compare" in (run_folder / "report.md").read_text()
    assert "similar items agreement" in cli("compare", run_folder, "--anchors", "20").out
    assert {r["test"] for r in summary["significance"]} == {"permutation"}
    assert [r["ci_level"] for r in summary["significance"]] == pytest.approx([1 - 0.05 / 6] * 6)
    wilcoxon = cli("compare", run_folder, "--anchors", "20", "--test", "wilcoxon", "--json").json()
    assert {r["test"] for r in wilcoxon["significance"]} == {"wilcoxon"}
    assert "Wilcoxon signed-rank" in (run_folder / "report.md").read_text()
    bad = cli("compare", run_folder, "--test", "ttest")
    assert bad.code == 2 and "--test 'ttest'" in bad.err
    metrics = json.loads((run_folder / "metrics.json").read_text())
    assert set(metrics["significantly_best"]) == set(metrics["models"]["ease"])  # one entry per column
    assert metrics["significantly_best"]["coverage@10"] is None  # no per-user values: never bold


def test_ambiguous_and_unknown_names_are_bad_input(cli, run_folder):
    result = cli("compare", run_folder, "--item-name", "Jazz")
    assert result.code == 2 and "ambiguous" in result.err and "Jazz" in result.err
    assert cli("compare", run_folder, "--item-name", "no such title").code == 2
    assert cli("compare", run_folder, "--models", "i2i,nope").code == 2


def test_run_with_a_compare_block(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = yaml.safe_load((ROOT / "configs" / "ci-smoke.yaml").read_text())
    config["compare"] = {"k": 5, "anchors": 30}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    summary = run_experiment(tmp_path / "c.yaml", tmp_path / "runs")
    first = Path(summary["path"])
    assert (first / "compare" / "compare.json").exists() and summary["stages"]["compare"]["status"] == "done"
    assert "## Compare" in (first / "report.md").read_text()

    again = run_experiment(tmp_path / "c.yaml", tmp_path / "runs")  # unchanged: compare/ comes from the store
    second = Path(again["path"])
    assert second != first and again["stages"]["compare"]["reused_from"] == first.name
    assert (second / "compare" / "compare.json").read_bytes() == (first / "compare" / "compare.json").read_bytes()
    assert (second / "report.md").read_text().split("## Compare")[1] == (first / "report.md").read_text().split("## Compare")[1]

    config["compare"]["k"] = 3  # another block: computed again
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    third = run_experiment(tmp_path / "c.yaml", tmp_path / "runs")
    assert third["stages"]["compare"]["reused_from"] is None
    assert json.loads((Path(third["path"]) / "compare" / "compare.json").read_text())["k"] == 3


@pytest.mark.skipif(not (ML_LATEST_SMALL / "ratings.csv").exists(), reason="ml-latest-small not available")
def test_toy_story_gets_recognisable_neighbours_on_real_movielens(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ml.yaml").write_text(yaml.safe_dump({
        "name": "ml", "dataset": {"format": "movielens", "path": str(ML_LATEST_SMALL), "min_rating": 4},
        "split": {"strategy": "leave-one-random", "test_users": 0.2},
        "models": [{"name": "i2i", "type": "item-knn"}, {"name": "ials", "type": "ials"}],
        "metrics": {"k": [100], "names": ["mrr"]}, "export": {"recommendations": 0, "similar": 0},
    }))
    run = run_experiment(tmp_path / "ml.yaml", tmp_path / "runs")["path"]
    from recsys_cli.serving.compare import compare_run

    result = compare_run(Path(run), k=10, anchors=100, item_names=["Toy Story (1995)"])
    side = pl.DataFrame(result["side_by_side"])
    family = ("Toy Story 2", "Aladdin", "Lion King", "Beauty and the Beast", "Monsters, Inc.", "Bug's Life",
              "Babe", "Shrek", "Finding Nemo", "Jurassic Park", "Independence Day", "Star Wars", "Forrest Gump",
              "Groundhog Day", "Willy Wonka", "Mrs. Doubtfire", "Apollo 13", "Back to the Future")
    for model in ("i2i", "ials"):
        neighbours = " | ".join(side[model].to_list())
        assert sum(title in neighbours for title in family) >= 2, (model, neighbours)


def test_compare_plots_show_the_computed_agreement(cli, run_folder, monkeypatch):
    """Each heatmap's cells are the pairs' agreement from compare.json, labelled by model, and
    the histogram has one panel per model with similar items."""
    import matplotlib.image

    from recsys_cli.report import tables as report

    drawn = {}
    original = report._save

    def record(figure, path):
        drawn[Path(path).name] = figure
        original(figure, path)

    monkeypatch.setattr(report, "_save", record)
    summary = cli("compare", run_folder, "--k", "5", "--anchors", "40", "--json").json()
    for png, rows, names in (("similar_overlap.png", summary["similar_agreement"], ["i2i", "ials", "ease"]),
                             ("recommendation_overlap.png", summary["recommendation_agreement"],
                              ["pop", "i2i", "ials", "ease"])):
        axis = drawn[png].axes[0]
        grid = np.asarray(axis.images[0].get_array())
        assert [t.get_text() for t in axis.get_xticklabels()] == names
        assert np.allclose(np.diag(grid), 1.0)
        for row in rows:
            i, j = names.index(row["model_a"]), names.index(row["model_b"])
            assert grid[i, j] == pytest.approx(row["overlap"]) and grid[j, i] == pytest.approx(row["overlap"])
        assert f"{grid[0, 1]:.2f}" in {t.get_text() for t in axis.texts}
        pixels = matplotlib.image.imread(run_folder / "compare" / png)
        assert pixels.shape[0] > 100 and pixels.std() > 0.05  # a picture, not a blank canvas
    rbo = np.asarray(drawn["similar_rbo.png"].axes[0].images[0].get_array())
    by_pair = {(r["model_a"], r["model_b"]): r["rbo"] for r in summary["similar_agreement"]}
    assert rbo[0, 1] == pytest.approx(by_pair[("i2i", "ials")])
    panels = [a for a in drawn["similarity_values.png"].axes if a.patches]
    assert [a.get_title() for a in panels] == ["i2i", "ials", "ease"]
