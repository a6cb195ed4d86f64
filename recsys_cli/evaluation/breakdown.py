"""Who a model serves well: metrics by user activity and by the held-out item's popularity,
and the cold users of a split (test users with no train history).

- Activity: test users are cut into quartiles of their history length (the items the model
  saw for them: train, plus fold-in input); each stratum's row is the mean of the per-user
  metric frame over its users, as the headline table is over all of them.
- Popularity: items are ranked by train popularity (users per item) and cut into head (the
  most popular items holding the first 20% of train interactions), torso (the next 30%) and
  tail (the rest, including items never seen in train) — compare's anchor strata. A user's
  held-out items may fall in different strata, so this table is over held-out (user, item)
  pairs: hit_rate@K is the share of the stratum's held-out items found in the user's top K,
  mrr@K the mean of 1/(rank) of each such item (0 when outside the top K). With one held-out
  item per user these are the user-level hit rate and MRR restricted to the stratum.
- Cold users: every model would rank them from an empty history, so all of them fall back to
  the training popularity ranking; they are evaluated once, on their own rows (test_cold).
"""

from __future__ import annotations

import numpy as np
import polars as pl

STRATA = ("head", "torso", "tail")
HEAD_SHARE, TORSO_SHARE = 0.2, 0.5  # cumulative interaction shares ending head and torso


def popularity_strata(popularity: np.ndarray) -> np.ndarray:
    """Stratum index (0 head, 1 torso, 2 tail) of every item from its train popularity."""
    order = np.lexsort((np.arange(len(popularity)), -popularity))
    share = np.cumsum(popularity[order]) / max(float(popularity.sum()), 1.0)
    by_rank = np.where(share <= HEAD_SHARE, 0, np.where(share <= TORSO_SHARE, 1, 2))
    by_rank[0] = 0  # the most popular item is head even when it alone holds more than 20%
    by_rank[popularity[order] == 0] = 2
    strata = np.empty(len(popularity), dtype=np.int8)
    strata[order] = by_rank
    return strata


def activity_quartiles(lengths: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Quartile index of each history length (ties stay together, so fewer than four strata
    are possible on a small or uniform split) and a label per stratum with its range."""
    edges = np.unique(np.quantile(lengths, [0.25, 0.5, 0.75], method="lower")) if len(lengths) else np.array([])
    index = np.searchsorted(edges, lengths, side="left")  # a length equal to an edge stays below it
    labels = []
    for s in range(len(edges) + 1):
        members = lengths[index == s]
        if len(members):
            labels.append(f"Q{len(labels) + 1}: {int(members.min())}–{int(members.max())} items")
    used = np.unique(index)
    remap = np.searchsorted(used, index)
    return remap, labels


def by_activity(per_user: pl.DataFrame, history_lengths: np.ndarray) -> pl.DataFrame:
    """Mean of every metric column over the users of each activity quartile."""
    metrics = [c for c in per_user.columns if "@" in c]
    lengths = history_lengths[per_user["user_idx"].to_numpy()]
    index, labels = activity_quartiles(lengths)
    frame = per_user.select(metrics).with_columns(pl.Series("stratum", [labels[i] for i in index], dtype=pl.String),
                                                  pl.Series("_order", index))
    return (frame.group_by("stratum", "_order").agg(pl.len().alias("users"), *[pl.col(m).mean() for m in metrics])
            .sort("_order").drop("_order"))


def by_item_popularity(top_ids: np.ndarray, users: np.ndarray, test, strata: np.ndarray, ks: list[int]) -> pl.DataFrame:
    """hit_rate@K and mrr@K over held-out (user, item) pairs of each popularity stratum.
    `top_ids` rows are the ranked lists of `users` (at least max(ks) deep)."""
    rows = test[users]
    row_of = np.repeat(np.arange(len(users)), np.diff(rows.indptr))
    held = rows.indices
    depth = min(max(ks), top_ids.shape[1])
    # 0-based position of each held-out item in its user's list, depth if absent.
    matches = top_ids[row_of, :depth] == held[:, None]
    position = np.where(matches.any(axis=1), matches.argmax(axis=1), depth)
    stratum = strata[held]
    out = []
    for s, name in enumerate(STRATA):
        mine = stratum == s
        row = {"stratum": name, "held_out_items": int(mine.sum())}
        for k in ks:
            found = position[mine] < k
            row[f"hit_rate@{k}"] = float(found.mean()) if mine.any() else None
            row[f"mrr@{k}"] = float(np.where(found, 1.0 / (position[mine] + 1.0), 0.0).mean()) if mine.any() else None
        out.append(row)
    return pl.DataFrame(out)


def breakdown(per_user: pl.DataFrame, top_ids: np.ndarray, users: np.ndarray, train, test, history,
              ks: list[int]) -> dict[str, list[dict]]:
    """Both tables for one model's evaluation, as JSON-ready rows."""
    from recsys_cli.models.base import item_popularity

    lengths = np.diff(history.indptr)
    strata = popularity_strata(item_popularity(train))
    return {"activity": by_activity(per_user, lengths).to_dicts(),
            "item_popularity": by_item_popularity(top_ids, users, test, strata, ks).to_dicts()}


def popularity_fallback(train, test_cold):
    """(model, history) of the popularity ranking every model falls back to for cold users:
    Popular fitted on train, and an empty history (they have none to filter). Evaluated
    through the run's backend like every other model."""
    import scipy.sparse as sp

    from recsys_cli.models.popular import Popular

    return Popular().fit(train), sp.csr_matrix(test_cold.shape, dtype=np.float32)


def combined(warm: dict[str, float], n_warm: int, cold: dict[str, float] | None, n_cold: int) -> dict[str, float]:
    """Means over every test user, cold ones scored by the fallback (coverage, a catalogue
    share of one set of lists, does not combine and is left out)."""
    if not cold or not n_cold:
        return dict(warm)
    return {key: (n_warm * value + n_cold * cold[key]) / (n_warm + n_cold)
            for key, value in warm.items() if key in cold and not key.startswith("coverage")
            and value is not None and cold[key] is not None}


def warm_and_cold(summaries: dict[str, dict], breakdowns: dict[str, dict], n_warm: int, cold: dict | None) -> dict:
    """metrics.json's additions: warm/cold user counts, the cold users' fallback metrics (from
    their evaluation record), every model's means over all test users, and the breakdowns."""
    n_cold = cold["test_users"] if cold else 0
    cold_summary = cold["summary"] if cold else None
    return {"test_users": {"warm": n_warm, "cold": n_cold}, "cold_users": cold_summary,
            "all_test_users": {m: combined(v, n_warm, cold_summary, n_cold) for m, v in summaries.items()},
            "breakdown": breakdowns}
