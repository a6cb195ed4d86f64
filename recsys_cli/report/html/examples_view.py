"""The report page's "Examples" section: the most popular items' similar lists side by side,
and a few test users (short, middling and long train histories) with their latest history,
held-out items and each model's top list, hits marked."""

from __future__ import annotations

import numpy as np
import polars as pl

from recsys_cli.report.html.collect import RunData

EXAMPLE_USERS = 3
EXAMPLE_DEPTH = 10


def examples_section(data: RunData, similar: dict[str, pl.DataFrame], labels, train) -> dict | None:
    out = {}
    if similar:
        out["similar"] = similar_examples(data, similar, labels)
    users = user_examples(data, labels, train)
    if users:
        out["users"] = users
    return out or None


def similar_examples(data: RunData, similar: dict[str, pl.DataFrame], labels) -> list[dict]:
    """The most popular items' similar lists, side by side (top_popular.parquet's order)."""
    top = data.path / "top_popular.parquet"
    source = pl.read_parquet(top, columns=["item_id"]) if top.is_file() else next(iter(similar.values()))
    anchors = source["item_id"].cast(pl.String).unique(maintain_order=True).head(2).to_list()
    tables = []
    for anchor in anchors:
        columns = {}
        for model, frame in similar.items():
            hits = frame.filter(pl.col("item_id").cast(pl.String) == anchor).sort("rank").head(EXAMPLE_DEPTH)
            columns[model] = label(labels, hits["similar_item_id"].cast(pl.String).to_list())
        depth = max((len(v) for v in columns.values()), default=0)
        tables.append({"anchor": label(labels, [anchor])[0], "models": list(columns),
                       "rows": [[columns[m][r] if r < len(columns[m]) else "" for m in columns] for r in range(depth)]})
    return tables

def user_examples(data: RunData, labels, train) -> list[dict]:
    """A few test users — short, middling and long train histories — with their latest
    history, the held-out items and each model's top list (hits marked)."""
    folder = data.path / "recommendations"
    recs = {m: folder / f"{m}.parquet" for m in data.models if (folder / f"{m}.parquet").is_file()}
    test, users_table = data.split_part("test"), data.users()
    if not recs or train is None or test is None or users_table is None or data.dataset_dir is None:
        return []
    test_users = np.flatnonzero(np.diff(test.indptr))
    if len(test_users) == 0:
        return []
    lengths = np.diff(train.indptr)[test_users]
    order = test_users[np.argsort(lengths, kind="stable")]
    picks = list(dict.fromkeys(int(order[int(q * (len(order) - 1))]) for q in (0.25, 0.5, 0.9)))[:EXAMPLE_USERS]
    ids = users_table.filter(pl.col("user_idx").is_in(picks)).sort("user_idx")
    id_of = dict(zip(ids["user_idx"].to_list(), ids["user_id"].cast(pl.String).to_list()))
    item_id_of = labels.sort("item_idx")["item_id"].to_numpy() if labels is not None else None
    events = pl.scan_parquet(data.dataset_dir / "events.parquet").filter(pl.col("user_idx").is_in(picks)).collect()
    # Scanned with the filter pushed down: the whole export (every test user's top-N with item
    # names) is never held for the three users shown.
    frames = {m: pl.scan_parquet(p).with_columns(pl.col("user_id").cast(pl.String), pl.col("item_id").cast(pl.String))
              .filter(pl.col("user_id").is_in(list(id_of.values())) & (pl.col("rank") <= EXAMPLE_DEPTH)).collect()
              for m, p in recs.items()}
    out = []
    for user in picks:
        held_out = test.indices[test.indptr[user]:test.indptr[user + 1]]
        seen = events.filter((pl.col("user_idx") == user) & ~pl.col("item_idx").is_in(held_out.tolist()))
        seen = seen.sort("timestamp", descending=True, nulls_last=True) if "timestamp" in seen.columns else seen
        recent = seen["item_idx"].unique(maintain_order=True).head(EXAMPLE_DEPTH).to_numpy()
        held_ids = [str(i) for i in (item_id_of[held_out] if item_id_of is not None else held_out)]
        columns = {}
        for model, frame in frames.items():
            listed = frame.filter(pl.col("user_id") == id_of[user]).sort("rank")["item_id"].to_list()
            columns[model] = [{"text": t, "hit": i in held_ids} for i, t in zip(listed, label(labels, listed))]
        depth = max((len(v) for v in columns.values()), default=0)
        out.append({
            "user": id_of.get(user, str(user)), "history_size": int(train.indptr[user + 1] - train.indptr[user]),
            "history": label(labels, [str(i) for i in (item_id_of[recent] if item_id_of is not None else recent)]),
            "held_out": label(labels, held_ids), "models": list(columns),
            "rows": [[columns[m][r] if r < len(columns[m]) else None for m in columns] for r in range(depth)],
        })
    return out


def label(labels: pl.DataFrame | None, ids: list[str]) -> list[str]:
    if labels is None or not ids:
        return list(ids)
    found = dict(labels.filter(pl.col("item_id").is_in(ids)).select("item_id", "label").iter_rows())
    return [found.get(i, i) for i in ids]
