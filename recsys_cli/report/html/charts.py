"""The page's charts: matplotlib figures rendered to inline SVG.

matplotlib is already a dependency (the PNG plots use it); SVG output with text kept as text
(`svg.fonttype: none`) is small, sharp at any zoom and in print, needs no JavaScript and no
font files, so the page stays one self-contained file. Each function takes plain values read
from the run folder and returns a Figure; `to_svg` turns it into markup.
"""

from __future__ import annotations

import io
import math
import re
from typing import Sequence

import numpy as np

STYLE = {
    "svg.fonttype": "none",  # text stays text: searchable, crisp, no embedded glyph paths
    "font.family": "sans-serif",
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
    "axes.labelsize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.6,
    "legend.fontsize": 8,
    "legend.frameon": False,
}
PRUNED_COLOR = "#9a9a9a"
BEST_COLOR = "#d62728"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def styled(draw):
    """Run a chart function under the page's matplotlib style (titles, labels and ticks are
    styled when they are set, so the whole function runs inside the style)."""
    import functools

    @functools.wraps(draw)
    def wrapper(*args, **kwargs):
        import matplotlib

        _pyplot()
        with matplotlib.rc_context(STYLE):
            return draw(*args, **kwargs)

    return wrapper


def figure(width: float, height: float, nrows: int = 1, ncols: int = 1, **kwargs):
    fig, axes = _pyplot().subplots(nrows, ncols, figsize=(width, height), squeeze=False, **kwargs)
    return fig, axes


def to_svg(fig, chart_id: str) -> str:
    """Inline SVG markup (no XML prolog, no DOCTYPE). `chart_id` salts the ids matplotlib
    gives clip paths and markers, so several charts in one page never share an id."""
    import matplotlib

    plt = _pyplot()
    buffer = io.StringIO()
    with matplotlib.rc_context({**STYLE, "svg.hashsalt": chart_id}):
        fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    text = buffer.getvalue()
    text = text[text.index("<svg"):]
    # Inline SVG in HTML needs no namespace declarations and no RDF metadata: drop them so
    # the page holds no address at all (none would be fetched, but none can be misread).
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.S)
    return re.sub(r'\s+xmlns(:xlink)?="[^"]*"', "", text, count=2)


# matplotlib's "tab10" and "tab20" palettes, spelled out so that choosing a model's colour
# (a chart cache key) needs no matplotlib import; a test checks them against matplotlib.
TAB10 = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
         "#17becf")
TAB20 = ("#1f77b4", "#aec7e8", "#ff7f0e", "#ffbb78", "#2ca02c", "#98df8a", "#d62728", "#ff9896", "#9467bd",
         "#c5b0d5", "#8c564b", "#c49c94", "#e377c2", "#f7b6d2", "#7f7f7f", "#c7c7c7", "#bcbd22", "#dbdb8d",
         "#17becf", "#9edae5")


def model_colors(names: Sequence[str]) -> dict[str, str]:
    """One colour per model, the same in every chart of the page."""
    palette = TAB10 if len(names) <= 10 else TAB20
    return {name: palette[i % len(palette)] for i, name in enumerate(names)}


def _grid(n: int, max_cols: int) -> tuple[int, int]:
    cols = max(1, min(max_cols, n))
    return math.ceil(n / cols), cols


def _hide_unused(axes, used: int) -> None:
    for axis in axes.ravel()[used:]:
        axis.set_visible(False)


# --- metrics ----------------------------------------------------------------------------

@styled
def metric_panels(models: list[str], columns: list[str], means: dict, intervals: dict, colors: dict):
    """One panel per metric: a bar per model with its 95% interval as an error bar."""
    rows, cols = _grid(len(columns), 4)
    height = rows * (0.24 * len(models) + 0.9)
    fig, axes = figure(10, height, rows, cols)
    positions = np.arange(len(models))
    for axis, column in zip(axes.ravel(), columns):
        values = np.array([np.nan if means.get(m, {}).get(column) is None else means[m][column] for m in models])
        low = np.array([intervals.get(m, {}).get(column, [np.nan, np.nan])[0] for m in models], dtype=float)
        high = np.array([intervals.get(m, {}).get(column, [np.nan, np.nan])[1] for m in models], dtype=float)
        axis.barh(positions, np.nan_to_num(values), color=[colors[m] for m in models], alpha=0.85, height=0.7)
        has_interval = np.isfinite(low) & np.isfinite(high) & np.isfinite(values)
        if has_interval.any():
            error = np.vstack([values - low, high - values])[:, has_interval]
            axis.errorbar(values[has_interval], positions[has_interval], xerr=np.clip(error, 0, None), fmt="none",
                          ecolor="#222222", elinewidth=1, capsize=3)
        axis.set_yticks(positions, models)
        axis.invert_yaxis()
        axis.set_title(column + ("" if has_interval.any() else " (no interval)"), loc="left",
                       fontsize=9)
        axis.grid(axis="y", visible=False)
        axis.tick_params(axis="y", length=0)
    _hide_unused(axes, len(columns))
    fig.tight_layout()
    return fig


# --- tuning -----------------------------------------------------------------------------

@styled
def tuning_history(trials, metric: str, model: str):
    """Every trial's validation value in order: completed dots, pruned crosses at the value
    they had when stopped, the best so far as a step line, trial 0 (the config's own
    parameters) marked as the default."""
    import polars as pl

    fig, axes = figure(7.0, 3.0)
    axis = axes[0, 0]
    complete = trials.filter(pl.col("state") == "COMPLETE").sort("number")
    pruned = trials.filter((pl.col("state") == "PRUNED") & pl.col("value").is_not_null())
    if pruned.height:
        axis.scatter(pruned["number"], pruned["value"], marker="x", color=PRUNED_COLOR, s=22,
                     label=f"pruned ({pruned.height})", zorder=2)
    axis.scatter(complete["number"], complete["value"], color="#1f77b4", s=20,
                 label=f"completed ({complete.height})", zorder=3)
    if complete.height:
        best = np.maximum.accumulate(complete["value"].to_numpy())
        numbers = complete["number"].to_numpy()
        last = int(trials["number"].max())
        axis.step(np.append(numbers, last), np.append(best, best[-1]), where="post", color=BEST_COLOR,
                  linewidth=1.4, label="best so far", zorder=4)
        first = trials.filter(pl.col("number") == trials["number"].min())
        if first["state"][0] == "COMPLETE":
            axis.scatter(first["number"], first["value"], s=90, facecolors="none", edgecolors="#222222",
                         linewidths=1.2, label="default (trial 0)", zorder=5)
    axis.set_xlabel("trial")
    axis.set_ylabel(f"{metric} on validation")
    axis.set_title(f"{model}: optimisation history", loc="left")
    axis.xaxis.set_major_locator(_integer_locator())
    axis.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    return fig


def _integer_locator():
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(nbins=8, integer=True)


@styled
def importance_bars(values: dict[str, float], title: str):
    ranked = sorted(values.items(), key=lambda kv: kv[1])
    fig, axes = figure(5.2, 0.35 * len(ranked) + 0.9)
    axis = axes[0, 0]
    axis.barh([name for name, _ in ranked], [v for _, v in ranked], color="#4c72b0")
    for position, (_, value) in enumerate(ranked):
        axis.text(value, position, f" {value:.2f}", va="center", fontsize=8)
    axis.set_xlim(0, max(1e-9, max(v for _, v in ranked)) * 1.18)
    axis.set_title(title, loc="left")
    axis.grid(axis="y", visible=False)
    fig.tight_layout()
    return fig


@styled
def slices(trials, space: dict[str, dict], metric: str, model: str):
    """One panel per tuned parameter: the validation value against the parameter's value,
    on a log axis where the space is log, plain readable ticks (no 1e1 notation)."""
    import polars as pl

    names = [n for n in space if f"params_{n}" in trials.columns]
    rows, cols = _grid(len(names), 3)
    fig, axes = figure(3.1 * cols + 0.9, 2.6 * rows + 0.4, rows, cols, sharey=True, layout="constrained")
    scored = trials.filter(pl.col("value").is_not_null())
    complete = scored.filter(pl.col("state") == "COMPLETE")
    pruned = scored.filter(pl.col("state") == "PRUNED")
    for axis, name in zip(axes.ravel(), names):
        spec, column = space[name], f"params_{name}"
        if spec["kind"] == "categorical":
            values = trials[column].drop_nulls().unique().to_list()
            numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
            choices = [str(v) for v in (sorted(values) if numeric else sorted(values, key=str))]
            where = {c: i for i, c in enumerate(choices)}
            place = lambda frame: np.array([where[str(v)] for v in frame[column].to_list()], dtype=float)  # noqa: E731
            jitter = lambda n: np.random.default_rng(0).uniform(-0.12, 0.12, n)  # noqa: E731
            axis.set_xticks(range(len(choices)), choices, rotation=30 if max(map(len, choices)) > 6 else 0,
                            ha="right" if max(map(len, choices)) > 6 else "center")
            axis.set_xlim(-0.5, len(choices) - 0.5)
        else:
            place = lambda frame: frame[column].to_numpy().astype(float)  # noqa: E731
            jitter = lambda n: 0.0  # noqa: E731
        if pruned.height:
            axis.scatter(place(pruned) + jitter(pruned.height), pruned["value"], marker="x", color=PRUNED_COLOR,
                         s=18, label="pruned")
        points = axis.scatter(place(complete) + jitter(complete.height), complete["value"], c=complete["number"],
                              cmap="viridis", s=22, label="completed", edgecolors="none")
        if spec["kind"] != "categorical":
            _numeric_axis(axis, spec)
        axis.set_xlabel(name + (" (log scale)" if spec.get("log") else ""))
        axis.grid(axis="x", visible=False)
    for row in axes:
        row[0].set_ylabel(f"{metric} (valid)")
    _hide_unused(axes, len(names))
    if names:
        fig.suptitle(f"{model}: value against each parameter (colour: trial number, crosses: pruned)",
                     x=0.01, ha="left", fontsize=10, fontweight="bold")
        fig.colorbar(points, ax=axes.ravel().tolist(), label="trial", fraction=0.03, pad=0.01, aspect=30)
    return fig


def _numeric_axis(axis, spec: dict) -> None:
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    if spec.get("log"):
        _log_axis(axis.xaxis, axis.set_xscale)
    else:
        axis.xaxis.set_major_locator(MaxNLocator(nbins=5, integer=spec["kind"] == "int"))
        axis.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))


def _log_axis(which, set_scale) -> None:
    """A log axis with plain tick labels (20, 50, 100 — not 10^2), 1-2-5 ticks when the
    range spans few decades and one tick per decade when it spans many, so labels never
    collide."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    set_scale("log")
    low, high = sorted(which.get_view_interval())
    decades = np.log10(max(high, 1e-300) / max(low, 1e-300))
    subs = (1.0, 2.0, 5.0) if decades <= 2.2 else (1.0,)
    which.set_major_locator(LogLocator(base=10, subs=subs, numticks=12))
    which.set_minor_formatter(NullFormatter())
    which.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))


# --- compare ----------------------------------------------------------------------------

def _triangle(names: list[str], pairs: list[dict], value: str) -> np.ndarray:
    """(n-1) x (n-1) lower triangle: row r is names[r + 1], column c is names[c]; NaN above."""
    index = {n: i for i, n in enumerate(names)}
    grid = np.full((len(names) - 1, len(names) - 1), np.nan)
    for row in pairs:
        i, j = sorted((index[row["model_a"]], index[row["model_b"]]), reverse=True)
        grid[i - 1, j] = row[value]
    return grid


def _draw_triangle(axis, names: list[str], grid: np.ndarray, fontsize: float):
    image = axis.imshow(np.ma.masked_invalid(grid), vmin=0, vmax=1, cmap="viridis")
    axis.set_xticks(range(len(names) - 1), names[:-1], rotation=40, ha="right")
    axis.set_yticks(range(len(names) - 1), names[1:])
    axis.grid(False)
    for spine in axis.spines.values():
        spine.set_visible(False)
    for (r, c), v in np.ndenumerate(grid):
        if np.isfinite(v):
            axis.text(c, r, f"{v:.2f}", ha="center", va="center", fontsize=fontsize,
                      color="white" if v < 0.6 else "black")
    return image


@styled
def triangle_heatmap(names: list[str], pairs: list[dict], value: str, title: str):
    """A model-pair heatmap without the diagonal (always 1) and the mirrored upper half."""
    size = 0.55 * (len(names) - 1) + 1.8
    fig, axes = figure(size + 0.9, size)
    image = _draw_triangle(axes[0, 0], names, _triangle(names, pairs, value), 8)
    axes[0, 0].set_title(title, loc="left")
    fig.colorbar(image, ax=axes[0, 0], fraction=0.04, pad=0.02)
    return fig


@styled
def stratum_heatmaps(names: list[str], rows: list[dict], strata: list[str], value: str, counts: dict[str, int]):
    """The same triangle per popularity stratum of the anchor items, one colour scale."""
    nrows, ncols = _grid(len(strata), 4 if len(names) <= 6 else 2)
    panel = 0.5 * (len(names) - 1) + 1.6
    fig, axes = figure(panel * ncols + 1, panel * nrows + 0.3, nrows, ncols, layout="constrained")
    image = None
    for axis, stratum in zip(axes.ravel(), strata):
        subset = [r for r in rows if r["stratum"] == stratum]
        image = _draw_triangle(axis, names, _triangle(names, subset, value), 7 if len(names) > 5 else 8)
        axis.set_title(f"{stratum} ({counts.get(stratum, 0)} anchors)", loc="left", fontsize=9)
    _hide_unused(axes, len(strata))
    if image is not None:
        fig.colorbar(image, ax=axes.ravel().tolist(), fraction=0.03, pad=0.02, label=value)
    return fig


@styled
def similarity_small_multiples(values: dict[str, np.ndarray], colors: dict, k: int):
    """One histogram per model, each on its own x scale (cosine vs dot products differ), at
    most four to a row so eight models stay readable."""
    nrows, ncols = _grid(len(values), 4)
    fig, axes = figure(2.5 * ncols + 0.4, 2.0 * nrows + 0.2, nrows, ncols)
    for axis, (name, data) in zip(axes.ravel(), values.items()):
        axis.hist(data, bins=30, color=colors.get(name, "#4c72b0"), alpha=0.85)
        if len(data):
            axis.axvline(float(np.median(data)), color="#222222", linewidth=1, linestyle="--")
        axis.set_title(name, loc="left", fontsize=9)
        axis.tick_params(labelsize=7)
        axis.xaxis.set_major_locator(_few_ticks())
        axis.yaxis.set_major_locator(_few_ticks())
    for row in axes:
        row[0].set_ylabel("pairs", fontsize=8)
    _hide_unused(axes, len(values))
    fig.supxlabel(f"similarity score of the top-{k} similar items (dashed: median)", fontsize=8)
    fig.tight_layout()
    return fig


def _few_ticks():
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(nbins=4)


@styled
def similar_popularity(values: dict[str, np.ndarray], catalogue: np.ndarray, colors: dict, k: int):
    """How popular the items each model calls similar are, against the catalogue itself
    (users per item in train, log axis): box = quartiles, whiskers = 5th-95th percentile."""
    labels = ["all items"] + list(values)
    data = [catalogue + 1] + [v + 1 for v in values.values()]
    fig, axes = figure(7.2, 0.42 * len(labels) + 1.1)
    axis = axes[0, 0]
    import inspect

    horizontal = ({"orientation": "horizontal"} if "orientation" in inspect.signature(axis.boxplot).parameters
                  else {"vert": False})  # matplotlib < 3.10 has only `vert`
    boxes = axis.boxplot(data, whis=(5, 95), showfliers=False, patch_artist=True,
                         medianprops={"color": "#222222"}, widths=0.6, **horizontal)
    for patch, label in zip(boxes["boxes"], labels):
        patch.set_facecolor("#dddddd" if label == "all items" else colors.get(label, "#4c72b0"))
        patch.set_alpha(0.8)
    axis.set_yticks(range(1, len(labels) + 1), labels)
    axis.invert_yaxis()
    _log_axis(axis.xaxis, axis.set_xscale)
    axis.set_xlabel("users per item in train + 1 (log scale)")
    axis.set_title(f"popularity of the top-{k} similar items", loc="left")
    axis.grid(axis="y", visible=False)
    fig.tight_layout()
    return fig


# --- models and history -----------------------------------------------------------------

@styled
def run_history(rows: list[dict], metric: str, colors: dict):
    """The headline metric of each model over the experiment's runs (oldest left)."""
    fig, axes = figure(7.5, 3.2)
    axis = axes[0, 0]
    positions = np.arange(len(rows))
    models = list(dict.fromkeys(m for row in rows for m in row["models"]))
    for model in models:
        values = np.array([row["models"].get(model, {}).get(metric, np.nan) or np.nan for row in rows], dtype=float)
        axis.plot(positions, values, marker="o", markersize=4, color=colors.get(model), label=model)
    current = [i for i, row in enumerate(rows) if row["current"]]
    for i in current:
        axis.axvline(i, color="#888888", linestyle=":", linewidth=1)
    step = max(1, len(rows) // 10)
    axis.set_xticks(positions[::step], [rows[i]["run_id"] for i in positions[::step]], rotation=30, ha="right")
    axis.set_ylabel(metric)
    axis.set_title(f"{metric} over the runs of this experiment (dotted: this run)", loc="left")
    axis.legend(loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    return fig
