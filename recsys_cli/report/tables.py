"""Tables and files people read: metrics.csv/json, the rich comparison table, report.md,
and the parquet exports with original ids."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from recsys_cli.core.atomic import write_json, write_parquet, write_text
from recsys_cli.data.sparse_counts import column_counts



def metrics_frame(summaries: dict[str, dict[str, float]]) -> pl.DataFrame:
    """One row per model: `model` + one column per `metric@k`, in the config's order."""
    columns = list(dict.fromkeys(key for summary in summaries.values() for key in summary))
    return pl.DataFrame(
        [{"model": model, **{c: summary.get(c) for c in columns}} for model, summary in summaries.items()],
        schema={"model": pl.String, **{c: pl.Float64 for c in columns}},
    )


def write_metrics(folder: Path, frame: pl.DataFrame, intervals: dict, protocol: dict, extra: dict | None = None,
                  tuning: dict | None = None, best: dict[str, str | None] | None = None,
                  repeats: dict | None = None) -> None:
    """metrics.csv / metrics.json: the first (or only) split's values; with repeated splits
    also `<metric>_mean` / `<metric>_sd` columns over the repeats and a `repeats` block."""
    write_atomic_csv(folder / "metrics.csv", frame if not repeats else _with_repeat_columns(frame, repeats))
    write_json(folder / "metrics.json", {
        "protocol": protocol,
        "models": {row["model"]: {k: v for k, v in row.items() if k != "model"} for row in frame.to_dicts()},
        "intervals_95": intervals,
        "significantly_best": best or {},
        "significantly_best_means": BOLD_MEANS.removeprefix("Bold: "),
        **({"repeats": repeats} if repeats else {}),
        **(extra or {}),
        **({"tuning": tuning} if tuning else {}),
    })


def _with_repeat_columns(frame: pl.DataFrame, repeats: dict) -> pl.DataFrame:
    stats = repeats["models"]
    extra = {}
    for metric in frame.columns[1:]:
        for what in ("mean", "sd"):
            extra[f"{metric}_{what}"] = [stats.get(m, {}).get(metric, {}).get(what) for m in frame["model"]]
    return frame.with_columns(*(pl.Series(name, values, dtype=pl.Float64) for name, values in extra.items()))


def repeats_tables(repeats: dict, title: str) -> list:
    """Rich tables (one per K) of means ± sd over repeated splits, the significantly best in
    bold green."""
    from rich.markup import escape
    from rich.table import Table

    stats, best = repeats["models"], repeats["significantly_best"]
    by_k: dict[str, list[str]] = {}
    for metric in dict.fromkeys(m for model in stats.values() for m in model):
        by_k.setdefault(f"@{metric.split('@')[1]}" if "@" in metric else "rating prediction", []).append(metric)
    tables = []
    for k, metrics in by_k.items():
        table = Table(title=escape(f"{title} — {k}, mean ± sd over {repeats['count']} {repeats['kind']}"),
                      title_justify="left")
        table.add_column("model", style="bold")
        for metric in metrics:
            table.add_column(escape(metric.split("@")[0]), justify="right")
        for model, values in stats.items():
            cells = []
            for metric in metrics:
                entry = values.get(metric)
                text = "" if entry is None else f"{entry['mean']:.4f}"
                if best.get(metric) == model and entry:
                    text = f"[bold green]{text}[/]"
                cells.append(text + (f"\n[dim]±{entry['sd']:.4f}[/]" if entry else ""))
            table.add_row(escape(str(model)), *cells)
        tables.append(table)
    return tables + [_paired_repeats_table(repeats)]


def _paired_repeats_table(repeats: dict):
    """Paired comparison over the repeats of every model pair on the headline metric (the
    first metric at the largest K)."""
    from rich.markup import escape
    from rich.table import Table

    metrics = list(dict.fromkeys(row["metric"] for row in repeats["paired"]))
    ks = [int(m.split("@")[1]) for m in metrics if "@" in m]
    headline = next((m for m in metrics if ks and m.endswith(f"@{max(ks)}")), metrics[0] if metrics else "")
    table = Table(title=f"paired over {repeats['count']} {repeats['kind']}: {headline} (t-test, Holm-adjusted)",
                  title_justify="left")
    for column in ("a", "b", "a - b", "sd", "a wins", "p Holm", "verdict"):
        table.add_column(column, justify="right" if column not in ("a", "b", "verdict") else "left")
    for row in (r for r in repeats["paired"] if r["metric"] == headline):
        table.add_row(escape(str(row["model_a"])), escape(str(row["model_b"])), f"{row['difference']:+.4f}",
                      f"{row['difference_sd']:.4f}", f"{row['a_wins']}/{row['repeats']}", f"{row['p_holm']:.4f}",
                      escape(str(row["verdict"])))
    return table


def write_atomic_csv(path: Path, frame: pl.DataFrame) -> None:
    from recsys_cli.core.atomic import write_atomically

    write_atomically(path, lambda tmp: frame.write_csv(tmp))


BOLD_MEANS = ("Bold: significantly best — a paired t-test of the mean per-user difference against every other "
              "model, Holm-adjusted, 5% family level (metrics without per-user values, like coverage, are never bold).")


def significance_legend(best: dict[str, str | None] | None, bold_shows: bool) -> str:
    """What the tables' bold means — or, where nothing is bold (a pipe, a log, a cron mail),
    the significantly best model of each column in words."""
    if bold_shows or not best:
        return BOLD_MEANS
    winners: dict[str, list[str]] = {}
    for column, model in best.items():
        winners.setdefault(model or "", []).append(column)
    said = [f"{model}: {', '.join(columns)}" for model, columns in winners.items() if model]
    unclear = winners.get("", [])
    return ("Significantly best (paired t-test of per-user values against every other model, Holm-adjusted, 5%) — "
            + ("; ".join(said) if said else "no model in any column")
            + (f"; no clear winner: {', '.join(unclear)}" if unclear else "") + ".")


def rich_tables(frame: pl.DataFrame, intervals: dict, title: str, best: dict[str, str | None] | None = None) -> list:
    """One table per K (models x metrics), the significantly best value per column (`best`:
    column -> model or None) in bold green, half the 95% bootstrap interval under each mean
    (the interval itself is in metrics.json)."""
    from rich.markup import escape
    from rich.table import Table

    best = best or {}
    by_k: dict[str, list[str]] = {}
    for column in frame.columns[1:]:
        by_k.setdefault(f"@{column.split('@')[1]}" if "@" in column else "rating prediction", []).append(column)
    tables = []
    for k, columns in by_k.items():
        table = Table(title=escape(f"{title} — {k}"), title_justify="left")
        table.add_column("model", style="bold")
        for column in columns:
            table.add_column(escape(column.split("@")[0]), justify="right")
        for row in frame.to_dicts():
            cells = []
            for column in columns:
                value = row[column]
                text = "" if value is None else f"{value:.4f}"
                if best.get(column) == row["model"]:
                    text = f"[bold green]{text}[/]"
                low_high = intervals.get(row["model"], {}).get(column)
                if low_high and value is not None and np.isfinite(low_high[0]):
                    text += f"\n[dim]±{(low_high[1] - low_high[0]) / 2:.4f}[/]"
                cells.append(text)
            table.add_row(escape(row["model"]), *cells)
        tables.append(table)
    return tables


def md_text(value) -> str:
    """Text from data (an item name, an id) as one Markdown table cell: HTML escaped (Markdown
    previews render raw HTML), `|` escaped, on one line."""
    import html

    return html.escape(str(value), quote=False).replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def markdown_table(frame: pl.DataFrame, best: dict[str, str | None] | None = None) -> str:
    """Models x metrics; the significantly best value per column (`best`) in bold."""
    best = best or {}
    header = "| " + " | ".join(md_text(c) for c in frame.columns) + " |\n|" + "---|" * len(frame.columns) + "\n"
    lines = []
    for row in frame.to_dicts():
        cells = [md_text(row["model"])]
        for column in frame.columns[1:]:
            value = row[column]
            text = "" if value is None else f"{value:.4f}"
            cells.append(f"**{text}**" if best.get(column) == row["model"] else text)
        lines.append("| " + " | ".join(cells) + " |")
    return header + "\n".join(lines) + "\n"


def write_report(folder: Path, name: str, frame: pl.DataFrame, protocol: dict, manifest: dict, extra: str = "",
                 best: dict[str, str | None] | None = None, opening: str = "") -> None:
    """report.md: `opening` (the verdict and changes, report/verdict.py), the metrics, the
    protocol, the stages and the environment, then `extra` sections."""
    env = manifest.get("environment", {})
    for stage, entry in manifest.get("stages", {}).items():
        if entry.get("feature_importances"):
            ranked = sorted(entry["feature_importances"].items(), key=lambda kv: -kv[1])
            extra += (f"\n## Feature importances of {stage.split('/', 1)[1]} (share of gain)\n\n| feature | importance |\n|---|---|\n"
                      + "\n".join(f"| {md_text(name)} | {value:.4f} |" for name, value in ranked) + "\n")
    timings = [
        f"| {stage} | {entry.get('status')} | {entry.get('seconds', 0):.2f} |"
        for stage, entry in manifest.get("stages", {}).items()
    ]
    text = (
        f"# {md_text(name)} — run {md_text(manifest.get('run_id'))}\n\n{opening}"
        f"## Metrics\n\n{markdown_table(frame, best)}\n"
        f"{BOLD_MEANS} Means over test users; 95% bootstrap intervals are in metrics.json.\n\n"
        f"## Protocol\n\n```\n{_yaml(protocol)}```\n\n"
        f"## Stages\n\n| stage | status | seconds |\n|---|---|---|\n" + "\n".join(timings) + "\n\n"
        f"## Environment\n\n```\n{_yaml(env)}```\n" + extra
    )
    write_text(folder / "report.md", text)


def _yaml(value: Any) -> str:
    import yaml

    return yaml.safe_dump(value, sort_keys=False, allow_unicode=True)


def id_lookup(table: pl.DataFrame, key: str) -> np.ndarray | pl.Series:
    """Dense index -> original id, as an array indexable by index arrays."""
    ids = table.sort(key)[table.columns[1]]
    return ids.to_numpy() if ids.dtype.is_numeric() else ids


def ranked_frame(left_name: str, right_name: str, anchors: np.ndarray, ids: np.ndarray, scores: np.ndarray,
                 left_ids, right_ids) -> pl.DataFrame:
    """Long table (left id, right id, rank 1.., score) from (n, k) top lists, dropping -inf filler."""
    n, k = ids.shape
    flat_ids, flat_scores = ids.ravel(), scores.ravel()
    keep = np.isfinite(flat_scores)
    anchor = np.repeat(anchors, k)[keep]
    return pl.DataFrame({
        left_name: _take(left_ids, anchor),
        right_name: _take(right_ids, flat_ids[keep]),
        "rank": np.tile(np.arange(1, k + 1, dtype=np.int32), n)[keep],
        "score": flat_scores[keep].astype(np.float32),
    })


EXPORT_ROWS_PER_BATCH = 1 << 18  # rows of a ranked export built and written at once


def write_ranked(path: Path, anchors: np.ndarray, ids: np.ndarray, scores: np.ndarray, *, left: str, right: str,
                 left_ids, right_ids, items: pl.DataFrame, names: list[tuple[str, str]]) -> Path:
    """The top lists of `anchors` as one long parquet table (`ranked_frame` plus the item
    names `names` asks for: (id column, name column) pairs), built and written a batch of
    anchors at a time: the whole table with its names, held at once, was the default run's
    peak memory (112 MiB for 15k users' top-100 on the Dzen shape)."""
    from polars.io.plugins import register_io_source

    from recsys_cli.core.atomic import write_atomically

    step = max(1, EXPORT_ROWS_PER_BATCH // max(ids.shape[1], 1))

    def batch(start: int) -> pl.DataFrame:
        stop = start + step
        frame = ranked_frame(left, right, anchors[start:stop], ids[start:stop], scores[start:stop], left_ids, right_ids)
        for id_column, name_column in names:
            frame = with_item_names(frame, items, id_column, name_column)
        return frame

    def source(with_columns, predicate, n_rows, batch_size):
        for start in range(0, max(len(anchors), 1), step):
            frame = batch(start)
            frame = frame.select(with_columns) if with_columns is not None else frame
            yield frame.filter(predicate) if predicate is not None else frame

    schema = batch(len(anchors)).schema  # an empty slice: the columns without building a batch
    return write_atomically(path, lambda tmp: register_io_source(source, schema=schema).sink_parquet(tmp))


def with_item_names(frame: pl.DataFrame, items: pl.DataFrame, id_column: str, name_column: str) -> pl.DataFrame:
    """`frame` with the item name of its `id_column` (original ids) as `name_column`, right
    after it, when the dataset has names; rows keep their order."""
    if "name" not in items.columns:
        return frame
    names = items.select(pl.col("item_id").alias(id_column), pl.col("name").alias(name_column))
    joined = frame.join(names, on=id_column, how="left", maintain_order="left")
    order = list(frame.columns)
    order.insert(order.index(id_column) + 1, name_column)
    return joined.select(order)


def with_user_ids(per_user: pl.DataFrame, users: pl.DataFrame) -> pl.DataFrame:
    """The per-user metric frame with the original user id beside the internal index."""
    ids = id_lookup(users, "user_idx")
    return per_user.insert_column(1, pl.Series("user_id", _take(ids, per_user["user_idx"].to_numpy())))


def _take(ids, index: np.ndarray):
    return ids[index] if isinstance(ids, np.ndarray) else ids.gather(index)


def write_top_popular(path: Path, train, items: pl.DataFrame, n: int) -> None:
    users_per_item = column_counts(train)
    order = np.lexsort((np.arange(len(users_per_item)), -users_per_item))[:n]
    frame = pl.DataFrame({"item_idx": order.astype(np.int32), "rank": np.arange(1, len(order) + 1, dtype=np.int32),
                          "users": users_per_item[order]})
    extra = [c for c in ("item_id", "name") if c in items.columns]
    frame = frame.join(items.select("item_idx", *extra), on="item_idx", how="left").drop("item_idx")
    write_parquet(path, frame.select(*extra, "rank", "users"))


def markdown_frame(frame: pl.DataFrame) -> str:
    """Any small table as markdown (floats to 4 decimals)."""
    def cell(value) -> str:
        return f"{value:.4f}" if isinstance(value, float) else md_text(value)

    header = "| " + " | ".join(md_text(c) for c in frame.columns) + " |\n|" + "---|" * len(frame.columns) + "\n"
    return header + "\n".join("| " + " | ".join(cell(v) for v in row) + " |" for row in frame.iter_rows()) + "\n"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(figure, path: Path) -> None:
    from recsys_cli.core.atomic import write_atomically

    write_atomically(path, lambda tmp: figure.savefig(tmp, dpi=100, bbox_inches="tight", format="png"))


def heatmap(path: Path, names: list[str], pairs: pl.DataFrame, value: str, title: str) -> None:
    """A symmetric model x model heatmap of `value` from (model_a, model_b, value) rows."""
    plt = _pyplot()
    index = {n: i for i, n in enumerate(names)}
    grid = np.eye(len(names))
    for row in pairs.iter_rows(named=True):
        i, j = index[row["model_a"]], index[row["model_b"]]
        grid[i, j] = grid[j, i] = row[value]
    figure, axis = plt.subplots(figsize=(1.2 * len(names) + 2, 1.0 * len(names) + 1.5))
    image = axis.imshow(grid, vmin=0, vmax=1, cmap="viridis")
    axis.set_xticks(range(len(names)), names, rotation=45, ha="right")
    axis.set_yticks(range(len(names)), names)
    for i in range(len(names)):
        for j in range(len(names)):
            axis.text(j, i, f"{grid[i, j]:.2f}", ha="center", va="center", color="white" if grid[i, j] < 0.6 else "black")
    axis.set_title(title)
    figure.colorbar(image, ax=axis)
    _save(figure, path)
    plt.close(figure)


def histograms(path: Path, values: dict[str, np.ndarray], title: str) -> None:
    """One histogram panel per model (scales differ: cosine vs factor dot products)."""
    plt = _pyplot()
    figure, axes = plt.subplots(1, len(values), figsize=(3.2 * len(values), 2.8), squeeze=False)
    for axis, (name, data) in zip(axes[0], values.items()):
        axis.hist(data, bins=40, color="steelblue")
        axis.set_title(name)
        axis.set_xlabel("similarity")
    axes[0][0].set_ylabel("count")
    figure.suptitle(title)
    figure.tight_layout()
    _save(figure, path)
    plt.close(figure)
