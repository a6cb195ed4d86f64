"""report.html: written by run/tune/compare and `recsys report`, self-contained, sections
that say why when they have no data; and the quickstart page opened in a real browser."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from recsys_cli.report.html import charts
from recsys_cli.report.html.collect import RunData
from recsys_cli.report.html.page import _Page
from recsys_cli.report.html.text import duration

REPO = Path(__file__).resolve().parents[2]
SECTIONS = ("header", "metrics", "tuning", "compare", "models", "history")
BROWSER_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def _sections(html: str) -> list[str]:
    return re.findall(r'data-section="([a-z]+)"', html)


def _assert_self_contained(html: str) -> None:
    assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/", html, re.I), "an address in the page"
    assert not re.search(r"<(script|img|link|iframe)[^>]+(src|href)=", html, re.I)
    assert "@import" not in html and not re.search(r"url\((?!#)", html), "only local url(#id) references"


def _fake_run(**fields) -> RunData:
    base = dict(path=Path("."), manifest={"stages": {}}, config={}, config_text="", metrics={}, intervals={},
                protocol={}, dataset_dir=None, dataset_info=None, split_dir=None, split_info=None)
    return RunData(**{**base, **fields})


# --- pieces on hand-made inputs ---------------------------------------------------------

def test_the_heatmap_triangle_keeps_each_pair_once_and_drops_the_diagonal():
    pairs = [{"model_a": "a", "model_b": "b", "v": 0.1}, {"model_a": "a", "model_b": "c", "v": 0.2},
             {"model_a": "c", "model_b": "b", "v": 0.3}]
    grid = charts._triangle(["a", "b", "c"], pairs, "v")
    # rows b, c; columns a, b
    assert grid[0, 0] == 0.1 and grid[1, 0] == 0.2 and grid[1, 1] == 0.3 and np.isnan(grid[0, 1])


def test_significance_matrix_reads_verdicts_both_ways():
    rows = [{"model_a": "x", "model_b": "y", "metric": "mrr@10", "difference": 0.05, "ci_low": 0.01, "ci_high": 0.09,
             "p_holm": 0.001, "verdict": "x better"},
            {"model_a": "x", "model_b": "z", "metric": "mrr@10", "difference": 0.0, "ci_low": -0.1, "ci_high": 0.1,
             "p_holm": 0.9, "verdict": "not significant"},
            {"model_a": "y", "model_b": "z", "metric": "mrr@10", "difference": -0.02, "ci_low": -0.05, "ci_high": 0.01,
             "p_holm": 0.01, "verdict": "unclear: the tests disagree"}]
    matrix = _Page(_fake_run(compare={"significance": rows})).significance()
    assert matrix["models"] == ["x", "y", "z"] and matrix["metric"] == "mrr@10"
    marks = [[cell and cell["mark"] for cell in row["cells"]] for row in matrix["matrix"]]
    assert marks == [[None, "▲", "≈"], ["▼", None, "?"], ["≈", "?", None]]
    assert "+0.0500" in matrix["matrix"][0]["cells"][1]["detail"]


def test_best_per_column_honours_lower_is_better_and_intervals_sit_under_means():
    page = _Page(_fake_run(metrics={"a": {"mrr@10": 0.2, "rmse": 1.1}, "b": {"mrr@10": 0.3, "rmse": 0.9}},
                           intervals={"a": {"mrr@10": [0.15, 0.25]}}))
    rows = page._metric_rows(["a", "b"], ["mrr@10", "rmse"])
    assert [c["best"] for c in rows[0]["cells"]] == [False, False]
    assert [c["best"] for c in rows[1]["cells"]] == [True, True]
    assert rows[0]["cells"][0]["interval"] == "0.1500–0.2500" and rows[1]["cells"][0]["interval"] == ""


def test_warm_and_cold_test_users_are_read_flat_or_nested():
    from recsys_cli.report.html.page import _warm_cold

    assert _warm_cold({"test_users": 9, "cold_test_users": 2, "fold_in": False}) == {"cold test users": 2}
    assert _warm_cold({"users": {"warm": 7, "cold": 2}}) == {"users warm": 7, "users cold": 2}


def test_duration_of_a_finished_and_of_a_resumed_run():
    assert duration({"started_at": "2026-01-01T10:00:00Z", "finished_at": "2026-01-01T10:02:05Z"}) == "2 min 5 s"
    resumed = {"started_at": "2026-01-01T10:00:00Z", "finished_at": "2026-01-02T10:00:00Z", "resumed_at": ["x"],
               "stages": {"a": {"seconds": 1.5}, "b": {"seconds": 2.0, "reused_from": "old"}}}
    assert duration(resumed) == "1.5 s"


def test_log_axes_get_plain_labels_that_do_not_collide():
    fig, axes = charts.figure(3, 2)
    axes[0, 0].scatter([0.001, 10.0], [0, 1])
    charts._log_axis(axes[0, 0].xaxis, axes[0, 0].set_xscale)
    fig.canvas.draw()
    labels = [t.get_text() for t in axes[0, 0].get_xticklabels() if t.get_text()]
    assert axes[0, 0].get_xscale() == "log" and "0.01" in labels and "1" in labels
    assert not any("10^" in t or "e-" in t for t in labels) and "0.02" not in labels  # one tick per decade


# --- the verbs on the smoke run ----------------------------------------------------------

def test_run_writes_a_self_contained_report_that_says_why_sections_are_empty(cli, project):
    result = cli("run", "smoke.yaml", "--json")
    assert result.code == 0, result.err
    run = Path(result.json()["path"])
    html = (run / "report.html").read_text()
    assert _sections(html) == ["summary", "header", "metrics", "tuning", "compare", "examples", "models", "history"]
    _assert_self_contained(html)
    assert "No model was tuned in this run" in html and "A matrix of every pair of models" in html
    assert "only run of ci-smoke" in html
    recorded = json.loads((run / "metrics.json").read_text())
    metrics, winners = recorded["models"], recorded["significantly_best"]
    # ★ exactly where metrics.json says a model is significantly best, nowhere else
    assert html.count('class="best"') == len([c for c, w in winners.items() if w])
    for column, winner in winners.items():
        if winner:
            assert re.search(rf'class="best"><span class="mean">{metrics[winner][column]:.4f}', html), column
    assert html.count("<svg") >= 3 and (run / "report.md").is_file()

    # an unchanged re-run adds no point: its results are the first run's, so nothing is charted yet
    rerun = Path(cli("run", "smoke.yaml", "--json", "--force").json()["path"])
    assert 'data-chart="run-history"' not in (rerun / "report.html").read_text()
    assert "have the same results: nothing to chart yet" in (rerun / "report.html").read_text()
    # a second run with other results: the history chart appears; `recsys report` on the
    # experiment folder re-renders it
    config = yaml.safe_load((project / "smoke.yaml").read_text())
    config["models"][2]["params"]["factors"] = 8
    (project / "smoke.yaml").write_text(yaml.safe_dump(config))
    second = Path(cli("run", "smoke.yaml", "--json").json()["path"])
    (second / "report.html").unlink()
    again = cli("report", project / "runs" / "ci-smoke", "--json")
    assert again.code == 0, again.err
    assert Path(again.json()["path"]).resolve() == (second / "report.html").resolve()
    assert 'data-chart="run-history"' in (second / "report.html").read_text()


def test_compare_and_tune_add_their_sections(cli, project):
    run = Path(cli("run", "smoke.yaml", "--json").json()["path"])
    assert cli("compare", run, "--anchors", "40", "--item", "1", "--quiet").code == 0
    html = (run / "report.html").read_text()
    for chart in ("similar-overlap", "similar-rbo", "similar-strata", "recommendation-overlap"):
        assert f'data-chart="{chart}"' in html, chart
    assert 'class="matrix"' in html and "Similar items side by side" in html

    tuned = cli("tune", "smoke.yaml", "--model", "ials", "--trials", "4", "--json")
    assert tuned.code == 0, tuned.err
    html = (Path(tuned.json()["path"]) / "report.html").read_text()
    assert 'data-chart="tuning-history"' in html and 'data-chart="tuning-slices"' in html
    assert "Objective Value" not in html and "valid, best" in html
    _assert_self_contained(html)


@pytest.mark.parametrize("split", [{"folds": 2}, {"repeats": 2}])
def test_repeated_evaluation_gets_its_section(cli, project, split):
    """Mean ± sd over the splits, the per-split values on hover; user folds add the pooled
    per-user pairs, with the numbers of metrics.json."""
    config = yaml.safe_load((project / "smoke.yaml").read_text())
    config["split"].update(split)
    config["models"] = [m for m in config["models"] if m["name"] in ("pop", "ease")]
    (project / "rep.yaml").write_text(yaml.safe_dump(config))
    run = Path(cli("run", "rep.yaml", "--json").json()["path"])
    html = (run / "report.html").read_text()
    assert _sections(html)[:4] == ["summary", "header", "metrics", "repeats"]
    repeats = json.loads((run / "metrics.json").read_text())["repeats"]
    ease = repeats["models"]["ease"]["mrr@100"]
    assert f"{ease['mean']:.4f} ± {ease['sd']:.4f}" in html
    assert ", ".join(f"{v:.4f}" for v in ease["values"]) in html
    if "folds" in split:
        row = next(r for r in repeats["pooled"] if r["metric"] == "mrr@100")
        assert "Paired per user, pooled over the folds" in html and f"{row['difference']:+.4f}" in html
    else:
        assert "Paired per user" not in html
    _assert_self_contained(html)


def test_report_of_a_folder_that_is_not_a_run_is_bad_input(cli, tmp_path):
    result = cli("report", tmp_path)
    assert result.code == 2 and "not a run folder" in result.err


# --- in a real browser -------------------------------------------------------------------

def _browser() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    pytest.skip("no chromium on this machine (install Debian's `chromium`; .ci/run does): "
                "the report is not opened in a browser")


def test_quickstart_report_in_headless_chromium(cli, tmp_path, monkeypatch):
    executable = _browser()
    playwright = pytest.importorskip("playwright.sync_api", reason="playwright (the test extra) is not installed")
    monkeypatch.chdir(tmp_path)
    shutil.copy(REPO / "configs" / "quickstart.yaml", tmp_path / "quickstart.yaml")
    result = cli("run", "quickstart.yaml", "--json")
    assert result.code == 0, result.err
    page_path = Path(result.json()["path"]) / "report.html"
    metrics = json.loads((page_path.parent / "metrics.json").read_text())["models"]
    best_mrr10 = max(metrics, key=lambda m: metrics[m]["mrr@10"])
    screenshot = tmp_path / "quickstart-report.png"

    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=executable, args=BROWSER_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            problems: list[str] = []
            page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
            page.on("requestfailed", lambda r: problems.append(f"failed request: {r.url}"))
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            page.goto(page_path.resolve().as_uri(), wait_until="load")

            assert problems == []
            assert requests == [page_path.resolve().as_uri()], "the page asked for something besides itself"
            present = page.eval_on_selector_all("[data-section]", "els => els.map(e => e.dataset.section)")
            assert set(SECTIONS) <= set(present)
            sizes = page.eval_on_selector_all(
                "figure.chart svg", "els => els.map(e => { const r = e.getBoundingClientRect();"
                                    " return [e.closest('figure').dataset.chart, r.width, r.height]; })")
            assert len(sizes) >= 3 and {"metrics", "similarity-distributions"} <= {s[0] for s in sizes}
            assert all(width > 50 and height > 50 for _, width, height in sizes), sizes

            # the metrics table sorts by a column
            column = "table.metrics >> nth=0"
            first_model = lambda: page.locator(f"{column} >> tbody tr >> nth=0 >> td >> nth=0").inner_text()  # noqa: E731
            page.locator(f"{column} >> th >> nth=1 >> button").click()
            page.locator(f"{column} >> th >> nth=1 >> button").click()  # descending: the best mrr@10 first
            assert first_model().strip() == best_mrr10
            page.screenshot(path=str(screenshot), full_page=True)
            assert problems == []
        finally:
            browser.close()
    assert screenshot.stat().st_size > 50_000
