"""Ask a finished run folder for recommendations and similar items, from its saved models.

`ServedRun.open(RUN)` reads the run's resolved config, manifest and metrics protocol, finds
the dataset and split folders it was made from, and loads models from `models/<name>/` on
first use (no retraining). It works on a run folder copied to another place or machine:
a recorded path that does not exist as written is looked up relative to the run folder's
ancestors (a project copied whole keeps `runs/` and `data/` side by side), and a dataset
folder given explicitly (`--data`) wins. A split is only used when it was cut from exactly
that dataset (fingerprints agree), so a stale or foreign folder is refused, not served.

Users with no history in the split (cold users, or ids the dataset never saw) get the
training popularity ranking, and every answer says which users that was.

Imports are kept to numpy/scipy/polars on this path (no YAML unless the manifest lacks the
input paths; a factor model answers a few users from its factors without importing implicit),
so `recsys recommend` starts fast.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from recsys_cli.core.errors import InputError
from recsys_cli.store.inputs import find_run_dataset, find_run_split, recorded_datasets, recorded_split
from recsys_cli.store.runs import (check_manifest, check_model_files, read_run_config, read_run_record, resolve_run_dir,
                                   trained_models)

FALLBACK = "popularity"


@dataclass
class ServedRun:
    path: Path
    config: dict
    manifest: dict
    protocol: dict
    dataset: object  # recsys_cli.data.dataset.Dataset
    split: object  # recsys_cli.SplitData
    trained: dict[str, str]  # model name -> type
    _models: dict = field(default_factory=dict)

    @classmethod
    def open(cls, run_dir: Path, dataset_dir: Path | None = None) -> "ServedRun":
        from recsys_cli.data.dataset import Dataset
        from recsys_cli.data.split_folder import load_split

        path = resolve_run_dir(run_dir)
        manifest = check_manifest(path)
        # The manifest records where the dataset and split were; the config (YAML) is read only
        # where it does not, or where what it records is gone (the config names one more place).
        config = {} if _records_inputs(manifest) else read_run_config(path)
        protocol = (read_run_record(path, "metrics.json") or {}).get("protocol", {})
        trained = trained_models(path, manifest)
        if not trained:
            raise InputError("this run has no trained models (run `recsys train` or `recsys run` first)", path=path)

        if dataset_dir is not None:
            found = Path(dataset_dir)
        else:
            found = find_run_dataset(path, manifest, config)
            if found is None and not config:
                config = read_run_config(path)
                found = find_run_dataset(path, manifest, config)
            if found is None:
                raise InputError(
                    f"the dataset this run was trained on ({' = '.join(recorded_datasets(manifest, config))}) is "
                    "not there, nor under the run folder's parent folders; copy it along or give its folder with "
                    "--data DIR", path=path)
        dataset = Dataset.open(found)

        split_dir = find_run_split(path, manifest, config, dataset.path)
        if split_dir is None and not config:
            config = read_run_config(path)
            split_dir = find_run_split(path, manifest, config, dataset.path)
        if split_dir is None:
            raise InputError(f"the split this run was evaluated on ({recorded_split(manifest, config)}) is not there, nor under "
                             f"{dataset.path / 'splits'}; copy it along with the dataset", path=path)
        split = load_split(split_dir)
        if split.info.get("dataset", {}).get("fingerprint") != dataset.fingerprint:
            raise InputError(f"the split {split_dir} was cut from another dataset than {dataset.path} "
                             "(fingerprints differ); give the dataset the run was trained on", path=path)
        expected = protocol.get("split", {}).get("fingerprint")
        if expected is not None and expected != split.info.get("fingerprint"):
            raise InputError(f"the split {split_dir} is not the one this run was evaluated on (fingerprint "
                             f"{split.info.get('fingerprint')}, run recorded {expected})", path=path)
        return cls(path, config, manifest, protocol, dataset, split, trained)

    # -- models -----------------------------------------------------------------------------
    def models(self, names: list[str] | None) -> dict:
        """Loaded models by name (all trained ones when `names` is empty), in the run's order."""
        from recsys_cli.models.registry import load_model

        wanted = list(dict.fromkeys(names)) if names else list(self.trained)
        missing = [n for n in wanted if n not in self.trained]
        if missing:
            raise InputError(f"no trained model {', '.join(missing)} in this run; it has {', '.join(self.trained)}",
                             path=self.path)
        for name in wanted:
            if name not in self._models:
                checked = check_model_files(self.path, self.manifest, name)
                self._models[name] = load_model(self.trained[name], self.path / "models" / name, checked=checked)
        return {n: self._models[n] for n in wanted}

    def filter_seen(self, name: str) -> bool:
        return self.protocol.get("filter_seen", {}).get(name, True)

    # -- ids and metadata --------------------------------------------------------------------
    def user_indices(self, ids: list[str]) -> np.ndarray:
        """Original user ids (as typed) -> dense indices, -1 for ids the dataset does not have."""
        return _lookup(self.dataset.users, "user_id", "user_idx", ids)

    def item_rows(self, item_idx: np.ndarray) -> list[dict]:
        """item_id, name and metadata of each index, in order (-1 padding dropped by callers)."""
        items = self.dataset.items
        frame = pl.DataFrame({"item_idx": np.asarray(item_idx, dtype=np.int32)}).with_row_index("_pos")
        joined = frame.join(items, on="item_idx", how="left").sort("_pos").drop("_pos", "item_idx")
        return [{k: _plain(v) for k, v in row.items()} for row in joined.iter_rows(named=True)]

    @property
    def popularity(self) -> np.ndarray:
        from recsys_cli.models.base import item_popularity

        return item_popularity(self.split.train)

    # -- answers ------------------------------------------------------------------------------
    def histories(self, users: np.ndarray, n: int) -> list[tuple[int, list[dict]]]:
        """Per user (index, -1 for unknown ids): the items in their history and the `n` most
        recent with metadata — the cells the models saw (train, plus fold-in input), latest
        first by event time when the log has times for them, else heaviest first; ties by item.
        One scan of the event log for all the users."""
        users = np.asarray(users, dtype=np.int64)
        history = self.split.history
        counts = np.zeros(len(users), dtype=np.int64)
        known = users >= 0
        counts[known] = np.diff(history.indptr)[users[known]]
        answers = [(int(count), []) for count in counts]
        shown = np.flatnonzero(counts > 0) if n > 0 else np.empty(0, dtype=np.int64)
        if not len(shown):
            return answers
        rows = history[users[shown]]
        per_row = np.diff(rows.indptr)
        cells = pl.DataFrame({"position": np.repeat(shown, per_row), "user_idx": np.repeat(users[shown], per_row),
                              "item_idx": rows.indices.astype(np.int32), "weight": rows.data.astype(np.float64)})
        events = (pl.scan_parquet(self.dataset.path / "events.parquet")
                  .filter(pl.col("user_idx").is_in(np.unique(users[shown]).tolist()))
                  .group_by("user_idx", "item_idx").agg(pl.col("timestamp").max().alias("last_seen"),
                                                        pl.len().alias("events"))
                  .collect())
        timed = pl.col("last_seen").is_not_null().any().over("position")
        top = (cells.join(events.cast({"user_idx": pl.Int64}), on=["user_idx", "item_idx"], how="left")
               .sort(["position", pl.when(timed).then(pl.col("last_seen")),
                      pl.when(timed).then(None).otherwise(pl.col("weight")), "item_idx"],
                     descending=[False, True, True, False], nulls_last=True)
               .filter(pl.int_range(pl.len()).over("position") < n))
        items = self.item_rows(top["item_idx"].to_numpy())
        for row, extra in zip(items, top.select("position", "weight", "last_seen", "events").iter_rows(named=True)):
            row.update(weight=extra["weight"], events=extra["events"], last_seen=_iso(extra["last_seen"]))
            answers[extra["position"]][1].append(row)
        return answers

    def recommend(self, users: np.ndarray, names: list[str] | None, k: int) -> dict[str, dict]:
        """model -> {ids (n, k), scores, fallback (bool per user)}: the model's own top-k for
        users with history, the popularity top-k (seen items excluded) for the others."""
        users = np.asarray(users, dtype=np.int64)
        history = self.split.history
        has_history = np.zeros(len(users), dtype=bool)
        known = users >= 0
        has_history[known] = np.diff(history.indptr)[users[known]] > 0
        popular_ids, popular_scores = _popular_top(self.popularity, k)
        out = {}
        for name, model in self.models(names).items():
            ids = np.tile(popular_ids, (len(users), 1))
            scores = np.tile(popular_scores, (len(users), 1))
            warm = np.flatnonzero(has_history)
            if len(warm):
                top_ids, top_scores = model.recommend(users[warm].astype(np.int32), history, k,
                                                      filter_seen=self.filter_seen(name), fold_in=self.split.fold_in)
                ids[warm, :top_ids.shape[1]], scores[warm, :top_ids.shape[1]] = top_ids, top_scores
            out[name] = {"ids": ids, "scores": scores, "fallback": ~has_history}
        return out

    def answer_users(self, user_ids: list[str], names: list[str] | None, k: int, history: int) -> list[dict]:
        """What `recsys recommend` shows: per user, the recent history and each model's list
        (item rows with rank and score; `fallback` names the ranking used instead, if any)."""
        users = self.user_indices(user_ids)
        lists = self.recommend(users, names, k)
        answer = []
        for position, (user_id, index, (count, recent)) in enumerate(zip(user_ids, users, self.histories(users, history))):
            entry = {"user_id": user_id, "in_dataset": bool(index >= 0), "history_items": count, "history": recent,
                     "recommendations": {}}
            for name, top in lists.items():
                entry["recommendations"][name] = {
                    "fallback": FALLBACK if top["fallback"][position] else None,
                    "items": self.ranked_rows(top["ids"][position], top["scores"][position])}
            answer.append(entry)
        return answer

    def answer_items(self, items: np.ndarray, names: list[str] | None, k: int) -> dict:
        """What `recsys similar` shows: per anchor item, each model's similar items."""
        lists, without = self.similar(items, names, k)
        anchors = []
        for position, row in enumerate(self.item_rows(items)):
            anchors.append({**row, "similar": {name: self.ranked_rows(ids[position], scores[position])
                                               for name, (ids, scores) in lists.items()}})
        return {"items": anchors, "models_without_similarity": without}

    def ranked_rows(self, ids: np.ndarray, scores: np.ndarray) -> list[dict]:
        """Item rows with rank 1.. and score, dropping the -1 / -inf padding of short lists."""
        keep = (ids >= 0) & np.isfinite(scores)
        rows = self.item_rows(ids[keep])
        for rank, (row, score) in enumerate(zip(rows, scores[keep]), start=1):
            row.update(rank=rank, score=float(score))
        return rows

    def similar(self, items: np.ndarray, names: list[str] | None, k: int) -> tuple[dict[str, tuple], list[str]]:
        """(model -> (ids, scores) for the models with item similarity, names of those without)."""
        chosen = self.models(names)
        lists = {n: m.similar_items(np.asarray(items, dtype=np.int32), k) for n, m in chosen.items() if m.has_similar_items}
        return lists, [n for n, m in chosen.items() if not m.has_similar_items]


def _records_inputs(manifest: dict) -> bool:
    """Whether the manifest names the dataset and the split folder the run used."""
    stages = manifest.get("stages", {})
    return bool(stages.get("ingest", {}).get("dataset") and stages.get("split", {}).get("path"))


def _lookup(table: pl.DataFrame, id_column: str, idx_column: str, ids: list[str]) -> np.ndarray:
    """Original ids typed on the command line (strings) -> dense indices, -1 if absent."""
    wanted = pl.DataFrame({id_column: [str(i) for i in ids]}).with_row_index("_pos")
    known = table.select(pl.col(id_column).cast(pl.String), idx_column)
    found = wanted.join(known, on=id_column, how="left").sort("_pos")
    return found[idx_column].fill_null(-1).to_numpy().astype(np.int64)


def _popular_top(popularity: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k most popular items (ties by index), the fallback list."""
    from recsys_cli.models.topk import topk

    ids, scores = topk(popularity[None, :].astype(np.float32), k)
    return ids[0], scores[0]


def _plain(value):
    """Polars list cells -> Python lists of plain values (for tables and JSON)."""
    if isinstance(value, pl.Series):
        return value.to_list()
    return value


def _iso(seconds) -> str | None:
    from datetime import datetime, timezone

    if seconds is None:
        return None
    return datetime.fromtimestamp(int(seconds), tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
