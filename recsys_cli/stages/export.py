"""The export stage: every model's top-N recommendations (original ids, item names) and,
where the model has them, similar items -> recommendations/, similar/, top_popular.parquet."""

from __future__ import annotations

import numpy as np

from recsys_cli.data.split_folder import SplitData
from recsys_cli.stages.context import RunContext


def export(ctx: RunContext, models: dict, split: SplitData) -> None:
    """`models`: name -> stages.train.TrainedModel (loaded only for an export not stored)."""
    from recsys_cli.core.atomic import fingerprint as fp
    from recsys_cli.core.atomic import write_parquet
    from recsys_cli.models.registry import model_class
    from recsys_cli.report.tables import id_lookup, ranked_frame, with_item_names, write_top_popular

    export = ctx.experiment.export
    if not export.recommendations and not export.similar:
        return
    user_ids, item_ids = id_lookup(ctx.dataset.users, "user_idx"), id_lookup(ctx.dataset.items, "item_idx")
    users = split.test_users if export.users == "test" else np.arange(split.train.shape[0], dtype=np.int32)
    for entry in ctx.experiment.models:
        trained, key = models[entry.name], fp([ctx.train_key(entry, split), ctx.config["export"],
                                             ctx.filter_seen(entry), "names"])  # exports carry item names
        paths = []
        if export.recommendations:
            paths.append(f"recommendations/{entry.name}.parquet")
        has_similar = model_class(entry.type).has_similar_items
        if export.similar and has_similar:
            paths.append(f"similar/{entry.name}.parquet")

        def work(record, entry=entry, trained=trained, paths=paths, has_similar=has_similar):
            model = trained.get()
            if export.recommendations:
                ids, scores = ctx.test_top_lists.get(entry.name) or ctx.backend.recommend(
                    model, users, split.history, export.recommendations, filter_seen=ctx.filter_seen(entry),
                    fold_in=split.fold_in)
                frame = ranked_frame("user_id", "item_id", users, ids, scores, user_ids, item_ids)
                write_parquet(ctx.run.path / paths[0], with_item_names(frame, ctx.dataset.items, "item_id", "name"))
            if export.similar and has_similar:
                anchors = np.arange(split.train.shape[1], dtype=np.int32)
                ids, scores = similar_in_chunks(model, anchors, export.similar)
                frame = ranked_frame("item_id", "similar_item_id", anchors, ids, scores, item_ids, item_ids)
                frame = with_item_names(frame, ctx.dataset.items, "item_id", "name")
                write_parquet(ctx.run.path / paths[-1],
                              with_item_names(frame, ctx.dataset.items, "similar_item_id", "similar_name"))
            record.update(files=paths)

        ctx.timed(f"export/{entry.name}", key, paths, work)
    if export.recommendations:
        write_top_popular(ctx.run.path / "top_popular.parquet", split.train, ctx.dataset.items, export.recommendations)


def similar_in_chunks(model, anchors: np.ndarray, k: int, chunk: int = 4096):
    from recsys_cli.models.topk import in_batches

    return in_batches(lambda batch: model.similar_items(batch, k), anchors, chunk)
