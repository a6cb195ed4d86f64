"""Charts are drawn once per content: the cache key is the chart function, its arguments,
its id on the page and the chart code; outside a runs folder nothing is cached."""

from __future__ import annotations

import numpy as np

from recsys_cli.report.html import charts
from recsys_cli.report.html.chart_cache import ChartCache


def _counting(calls):
    @charts.styled
    def bars(values):
        calls.append(list(values))
        fig, axes = charts.figure(2, 2)
        axes[0][0].bar(range(len(values)), values)
        return fig

    return bars


def test_the_same_chart_is_drawn_once_and_other_data_is_drawn_again(tmp_path):
    calls = []
    bars = _counting(calls)
    cache = ChartCache(tmp_path / "charts")
    first = cache.svg("chart1", bars, np.array([1.0, 2.0]))
    assert cache.svg("chart1", bars, np.array([1.0, 2.0])) == first and len(calls) == 1
    cache.svg("chart1", bars, np.array([1.0, 3.0]))
    cache.svg("chart2", bars, np.array([1.0, 2.0]))  # another id salts the SVG's ids
    assert len(calls) == 3 and len(list((tmp_path / "charts").iterdir())) == 3
    assert first.startswith("<svg")


def test_a_run_folder_outside_a_runs_folder_draws_every_time(tmp_path):
    (tmp_path / "project" / "run").mkdir(parents=True)
    cache = ChartCache.for_run(tmp_path / "project" / "run")
    calls = []
    bars = _counting(calls)
    cache.svg("chart1", bars, [1.0])
    cache.svg("chart1", bars, [1.0])
    assert cache.folder is None and len(calls) == 2 and not (tmp_path / ".store").exists()


def test_the_page_palette_is_matplotlibs():
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    assert charts.TAB10 == tuple(to_hex(colormaps["tab10"](i)) for i in range(10))
    assert charts.TAB20 == tuple(to_hex(colormaps["tab20"](i)) for i in range(20))
