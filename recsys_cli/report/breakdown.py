"""report.md's sections on who was tested: warm and cold users, the cold users' fallback row,
and the breakdown tables (by user activity and by the held-out item's popularity)."""

from __future__ import annotations

import polars as pl

from recsys_cli.report.tables import markdown_frame


def markdown(users: dict, cold: dict | None, everyone: dict[str, dict], tables: dict[str, dict], metric: str) -> str:
    """report.md's sections: warm/cold counts, the cold users' row, and the breakdown tables
    for the headline `metric` (models side by side; every metric is in metrics.json)."""
    text = (f"\n## Test users\n\n{users['warm']:,} warm (with train history; the tables above are over them), "
            f"{users['cold']:,} cold (no train history).\n")
    if cold:
        text += ("\nCold users: every model falls back to the training popularity ranking, evaluated on their own "
                 "test rows:\n\n" + markdown_frame(pl.DataFrame([{"users": "cold: popularity fallback (every model)",
                                                                  **cold}])))
        text += ("\nAll test users, cold ones scored by the fallback:\n\n"
                 + markdown_frame(pl.DataFrame([{"model": m, **v} for m, v in everyone.items()])))
    tables = {model: table for model, table in tables.items() if table}
    if not tables:
        return text
    k = metric.split("@")[1]
    first = next(iter(tables.values()))
    activity = pl.DataFrame(first["activity"]).select("stratum", "users")
    popularity = pl.DataFrame(first["item_popularity"]).select("stratum", "held_out_items")
    for model, table in tables.items():
        rows = pl.DataFrame(table["activity"])
        if metric in rows.columns:
            activity = activity.with_columns(rows[metric].alias(model))
        popularity = popularity.with_columns(pl.DataFrame(table["item_popularity"])[f"hit_rate@{k}"].alias(model))
    text += (f"\n## Breakdown\n\n### {metric} by user activity (quartiles of history length)\n\n"
             + markdown_frame(activity.with_columns(pl.col(pl.Float64).fill_null(float("nan"))))
             + f"\n### hit_rate@{k} by popularity of the held-out item (share of held-out items found; "
               "head: top items with 20% of train interactions, torso: next 30%, tail: the rest)\n\n"
             + markdown_frame(popularity.with_columns(pl.col(pl.Float64).fill_null(float("nan")))))
    return text
