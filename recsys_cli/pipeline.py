"""The stages as plain functions over typed inputs; the CLI and `recsys run` call these.

Each stage writes its output folder atomically and records a fingerprint of its inputs, so
running it again with the same inputs is a no-op.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from recsys_cli.atomic import atomic_directory, file_sha256, fingerprint, write_json, write_npz
from recsys_cli.data.filters import IngestFilters
from recsys_cli.errors import InputError
from recsys_cli.store import ArtifactStore


@dataclass
class StageResult:
    path: Path
    info: dict
    skipped: bool  # True when the folder was already up to date


def _existing_info(path: Path, name: str) -> dict | None:
    try:
        return json.loads((path / name).read_text())
    except (OSError, json.JSONDecodeError):
        return None


def ingest(
    fmt: str,
    source: Path | None,
    out: Path,
    options: dict | None = None,
    filters: IngestFilters | None = None,
    force: bool = False,
) -> StageResult:
    """Read `source` in format `fmt` and write the canonical dataset folder `out`."""
    from recsys_cli.data.build import build_dataset, ingest_fingerprint, source_digests
    from recsys_cli.data.sources import reader

    options = {k: v for k, v in (options or {}).items() if v is not None}
    filters = filters or IngestFilters()
    read = reader(fmt)
    if source is not None and not Path(source).exists():
        raise InputError("no such file or folder", path=source)
    # A JSON round trip, so options compare equal to the ones read back from dataset.json.
    recorded_options = json.loads(json.dumps(
        {"source": str(source) if source is not None else None, **options}, default=str))
    previous = _existing_info(out, "dataset.json")
    if not force and _ingest_is_current(previous, fmt, recorded_options, filters):
        return StageResult(out, previous, skipped=True)
    tables = read(Path(source) if source is not None else None, **options)
    digests = source_digests(tables.files)
    info = build_dataset(
        tables, out, fmt=fmt, options=recorded_options, filters=filters, digests=digests,
        dataset_fingerprint=ingest_fingerprint(fmt, digests, recorded_options, filters),
    )
    return StageResult(out, info, skipped=False)


def _ingest_is_current(previous: dict | None, fmt: str, options: dict, filters: IngestFilters) -> bool:
    """Whether `previous` dataset.json was built from these options and unchanged source
    files — decided by re-hashing the files it lists, without parsing anything."""
    from recsys_cli.data.build import ingest_fingerprint, source_digests

    if previous is None or previous.get("format") != fmt or previous.get("options") != options:
        return False
    files = [Path(entry["path"]) for entry in previous.get("sources", [])]
    if not all(f.is_file() for f in files):
        return False
    return ingest_fingerprint(fmt, source_digests(files), options, filters) == previous.get("fingerprint")


def split(
    dataset_dir: Path,
    strategy: str,
    out: Path,
    params: dict | None = None,
    seed: int = 42,
    validation: bool = False,
    force: bool = False,
) -> StageResult:
    """Split a dataset folder into train/test (and validation) CSR files under `out`."""
    from recsys_cli.data import splits
    from recsys_cli.data.dataset import Dataset

    dataset = Dataset.open(dataset_dir)
    params = {k: v for k, v in (params or {}).items() if v is not None}
    splits.check_strategy(strategy)  # before any data is read
    key = fingerprint({"dataset": dataset.fingerprint, "strategy": strategy, "params": params,
                       "seed": seed, "validation": validation, "version": 1})
    previous = _existing_info(out, "split.json")
    if not force and previous is not None and previous.get("fingerprint") == key:
        return StageResult(out, previous, skipped=True)

    events = dataset.events() if strategy in splits.TIME_STRATEGIES else None
    cells = splits.Cells.from_matrix(dataset.matrix, events)
    labels = splits.assign(cells, strategy, params, seed)
    parts = {splits.PART_FILES[code]: cells.to_csr(labels == code) for code in np.unique(labels)}
    parts.setdefault("test", cells.to_csr(np.zeros(len(labels), dtype=bool)))
    if validation:
        train_cells = cells.subset(labels == splits.TRAIN)
        valid_params = splits.validation_params(strategy, params, labels)
        valid_labels = splits.assign(train_cells, strategy, valid_params, seed + 1)
        for code in np.unique(valid_labels):
            parts[splits.VALIDATION_FILES[code]] = train_cells.to_csr(valid_labels == code)

    with atomic_directory(out) as tmp:
        for name, matrix in parts.items():
            write_npz(tmp / f"{name}.npz", matrix)
        info = {
            "strategy": strategy,
            "params": {**splits.strategy_params(strategy), **params},
            "seed": seed,
            "validation": validation,
            "dataset": {"path": str(dataset.path), "fingerprint": dataset.fingerprint},
            "fingerprint": key,
            "shape": list(cells.shape),
            "parts": {
                name: {
                    "interactions": int(matrix.nnz),
                    "users": int(np.count_nonzero(np.diff(matrix.indptr))),
                    "sha256": file_sha256(tmp / f"{name}.npz"),
                }
                for name, matrix in parts.items()
            },
        }
        write_json(tmp / "split.json", info)
    return StageResult(out, info, skipped=False)


# --- experiments: ingest -> split -> train -> evaluate -> export -> report ------------------



class Reporter:
    """What a stage chain tells its caller; the CLI renders it with rich, scripts ignore it."""

    def stage(self, name: str, seconds: float, skipped: bool) -> None:
        pass

    def progress(self, description: str, total: int):
        """Return a callable `advance(n, description=None)` for a progress bar; the bar
        closes on `done()`."""
        return lambda n, description=None: None

    def done(self) -> None:
        pass

    def message(self, text: str) -> None:
        pass


class SplitData:
    """A split folder whose parts are read on first use, through `read_part` alone, so a
    stage touches only what it needs (tuning never opens test.npz)."""

    def __init__(self, path: Path, info: dict):
        self.path = path
        self.info = info
        self._parts: dict = {}

    def read_part(self, name: str):
        import scipy.sparse as sp

        if name not in self._parts:
            self._parts[name] = sp.load_npz(self.path / f"{name}.npz").tocsr()
        return self._parts[name]

    def has(self, name: str) -> bool:
        return (self.path / f"{name}.npz").exists()

    @property
    def train(self):
        return self.read_part("train")

    @property
    def test(self):
        test = self.read_part("test")
        if test.nnz == 0:
            raise InputError("the split's test part is empty: nothing to evaluate", path=self.path / "test.npz")
        return test

    @property
    def fold_in(self) -> bool:
        """user-holdout: test users are absent from train; their history is test_input."""
        return self.has("test_input")

    def _history(self, train_part: str, input_part: str):
        """Where users' seen items come from: train, plus the fold-in part of a user-holdout
        split. Composed once per pair of parts."""
        key = f"{train_part}+{input_part}"
        if key not in self._parts:
            train = self.read_part(train_part)
            self._parts[key] = self.read_part(input_part) + train if self.has(input_part) else train
        return self._parts[key]

    @property
    def history(self):
        return self._history("train", "test_input")

    @property
    def test_users(self) -> np.ndarray:
        return np.flatnonzero(np.diff(self.test.indptr)).astype(np.int32)

    def validation(self) -> tuple:
        """(valid_train, valid, history, fold_in) for tuning."""
        if not (self.has("valid_train") and self.has("valid")):
            raise InputError("the split has no validation part (valid_train.npz, valid.npz); "
                             "split with `validation: true`", path=self.path)
        history = self._history("valid_train", "valid_input")
        return self.read_part("valid_train"), self.read_part("valid"), history, self.has("valid_input")


def load_split(folder: Path) -> SplitData:
    info = _existing_info(folder, "split.json")
    if info is None:
        raise InputError("not a split folder (no split.json); make one with `recsys split`", path=folder)
    return SplitData(folder, info)


class ExperimentRun:
    """One execution of an experiment file into its run folder."""

    def __init__(self, experiment, runs_dir: Path, reporter: Reporter | None = None, jobs: int = 1,
                 tune_trials: int | None = None, tune_timeout: float | None = None):
        from recsys_cli.atomic import fingerprint as fp
        from recsys_cli.config import with_absolute_paths

        self.experiment = experiment = with_absolute_paths(experiment)
        self.jobs = jobs
        self.tune_trials = tune_trials  # command-line overrides of every tune block
        self.tune_timeout = tune_timeout
        self.tuned: dict[str, dict] = {}  # model name -> tune stage record
        self.reporter = reporter or Reporter()
        self.runs_dir = Path(runs_dir).absolute()
        self.config = experiment.model_dump(mode="json")
        self.config_fingerprint = fp(self.config)
        self.run = None
        self.store = ArtifactStore.for_runs(self.runs_dir)
        self.summaries: dict[str, dict] = {}
        self.intervals: dict[str, dict] = {}
        self.test_top_lists: dict[str, tuple] = {}  # model -> (ids, scores) from a fresh evaluation

    # -- stage bookkeeping ------------------------------------------------------------------
    def _artifact(self, stage: str, key: str, paths: list[str]) -> tuple[str, str]:
        """The store address of a stage's output: its kind (train, evaluate, export, tune)
        and the fingerprint of its inputs together with where its files live in a run."""
        from recsys_cli.atomic import fingerprint as fp

        return stage.split("/")[0], fp([key, sorted(paths)])

    def _adopt(self, stage: str, key: str, paths: list[str]) -> bool:
        """True if `stage` with input fingerprint `key` is already done here, or its artifact
        is in the store (then its files are hard-linked in and its record adopted)."""
        if self.run.stage_done(stage, key) and all((self.run.path / p).exists() for p in paths):
            return True
        kind, address = self._artifact(stage, key, paths)
        stored = self.store.link_into(kind, address, self.run.path)
        if stored is None:
            return False
        self.run.manifest["stages"][stage] = dict(stored["record"], reused_from=stored.get("origin"),
                                                   artifact=f"{kind}/{address}")
        self.run.save()
        return True

    def _timed(self, stage: str, key: str, paths: list[str], work) -> dict:
        """Run `work(entry)` as a recorded stage unless its artifact exists; publish what it
        wrote to the store; report either way. Returns the stage's manifest record."""
        import time

        from recsys_cli.store import artifact_lock

        kind, address = self._artifact(stage, key, paths)
        with artifact_lock(self.store, kind, address):  # concurrent runs build it once
            if self._adopt(stage, key, paths):
                self.reporter.stage(stage, 0.0, skipped=True)
                self.run.log(f"{stage}: up to date")
                return self.run.manifest["stages"][stage]
            started = time.perf_counter()
            with self.run.stage(stage, key) as entry:
                work(entry)
            self.store.publish(kind, address, self.run.path, [p for p in paths if (self.run.path / p).exists()],
                               dict(entry), origin=self.run.path.name)
        self.reporter.stage(stage, time.perf_counter() - started, skipped=False)
        self.run.log(f"{stage}: done in {entry['seconds']}s")
        return entry

    # -- the chain --------------------------------------------------------------------------
    def execute(self, until: str = "report", wait: bool = True) -> dict:
        from recsys_cli.runs import Run, experiment_lock

        folder = self.runs_dir / self.experiment.name
        waiting = lambda holder: self.reporter.message(  # noqa: E731
            f"waiting for another run of {self.experiment.name!r} to finish ({holder})...")
        with experiment_lock(folder, wait=wait, on_wait=waiting):
            self.run = Run.open_or_resume(self.runs_dir, self.experiment.name, self.config_fingerprint,
                                          self.experiment.seed, self.experiment.threads)
            self._write_config()
            try:
                return self._chain(until)
            except BaseException as error:
                status = "interrupted" if isinstance(error, KeyboardInterrupt) else "failed"
                if not self.run.has_finished_stage():
                    self.run.discard()  # a config that fails before any stage leaves no folder
                    raise
                self.run.manifest["status"] = status
                self.run.save()
                self.run.log(f"{status}: {type(error).__name__}: {error}")
                raise

    def _write_config(self) -> None:
        import yaml

        from recsys_cli.atomic import write_text

        write_text(self.run.path / "config.yaml", yaml.safe_dump(self.config, sort_keys=False, allow_unicode=True))

    def _chain(self, until: str) -> dict:
        from recsys_cli.data.dataset import Dataset

        dataset_dir = self._ingest()
        self.dataset = Dataset.open(dataset_dir)  # items/users tables are read once, on first use
        self.weight_kind = self.dataset.info.get("weight_kind", "implicit")
        split = self._split(dataset_dir)
        for entry in self.experiment.models:
            if entry.tune_block() is not None:
                self._tune(entry, split)
        advance = self.reporter.progress("training", len(self.experiment.models))
        models = {}
        for entry in self.experiment.models:
            models[entry.name] = self._train(entry, split)
            advance(1, f"training (done: {entry.name})")
        self.reporter.done()
        if until != "train":
            for entry in self.experiment.models:
                self._evaluate(entry, models[entry.name], split)
            self._write_metrics(split)
        if until == "report":
            self._export(models, split)
            self._report(split)
            if self.experiment.compare is not None:
                self._compare()
            self.run.complete()
        else:
            self.run.reached(f"{until} done")
        return self.summary()

    def _ingest(self) -> Path:
        from recsys_cli.config import IngestBlock

        block = self.experiment.dataset
        target = self.experiment.dataset_dir()
        if not isinstance(block, IngestBlock):
            from recsys_cli.data.dataset import Dataset

            dataset = Dataset.open(target)
            self.run.manifest["stages"]["ingest"] = {"status": "done", "fingerprint": dataset.fingerprint,
                                                     "dataset": str(target), "seconds": 0.0}
            self.run.save()
            return target

        def work(entry):
            result = ingest(block.format, block.path, target, block.reader_options(), block.filters())
            entry.update(dataset=str(target), skipped=result.skipped)

        self._always("ingest", work)
        return target

    def _always(self, stage: str, work) -> None:
        """Stages that decide for themselves whether they are up to date (by re-hashing)."""
        import time

        started = time.perf_counter()
        with self.run.stage(stage, "self-checked") as entry:
            work(entry)
        self.reporter.stage(stage, time.perf_counter() - started, skipped=entry.get("skipped", False))

    def _split(self, dataset_dir: Path) -> SplitData:
        from recsys_cli.atomic import fingerprint as fp

        block = self.experiment.split
        if block.path is not None:
            data = load_split(block.path)
        else:
            params = block.params()
            # Tuning needs a validation part: carve it even when the config does not ask.
            validation = block.validation or any(e.tune_block() for e in self.experiment.models)
            folder = dataset_dir / "splits" / f"{block.strategy}-{fp([params, block.seed, validation])[:8]}"

            def work(entry):
                result = split(dataset_dir, block.strategy, folder, params, seed=block.seed, validation=validation)
                entry.update(path=str(folder), skipped=result.skipped)

            self._always("split", work)
            data = load_split(folder)
        return data

    def _train_key(self, entry, split: SplitData) -> str:
        from recsys_cli.atomic import fingerprint as fp
        from recsys_cli.models.registry import model_class

        cls = model_class(entry.type)
        return fp({"split": split.info["fingerprint"], "type": entry.type, "use_weights": entry.use_weights,
                   "params": self._params(entry).model_dump(), "seed": self.experiment.seed,
                   "threads": None if cls.deterministic else self.experiment.threads})

    def _params(self, entry):
        """The config's parameters, overridden by the tuned best when the entry tunes."""
        from recsys_cli.models.registry import model_class

        best = self.tuned.get(entry.name, {}).get("best_params", {})
        return model_class(entry.type).Params.model_validate({**entry.params, **best})

    def _tune(self, entry, split: SplitData) -> None:
        from recsys_cli import tuning
        from recsys_cli.atomic import fingerprint as fp

        block = entry.tune_block()
        space = tuning.space_for(entry.type, block.space)
        study_key = fp({"split": split.info["fingerprint"], "type": entry.type, "params": entry.params,
                        "space": {k: v.model_dump() for k, v in space.items()}, "metric": block.metric,
                        "seed": self.experiment.seed, "pruner": block.pruner, "report_every": block.report_every,
                        "filter_seen": self._filter_seen(entry)})
        study_name = f"{self.experiment.name}-{entry.name}-{study_key[:8]}"
        storage = self.runs_dir / self.experiment.name / "tune" / entry.name / "study.db"
        target = self.tune_trials or block.trials
        folder = f"tune/{entry.name}"

        def work(record):
            advance = self.reporter.progress(f"tune {entry.name}", target)
            outcome = tuning.run_study(
                model_type=entry.type, base_params=entry.params, block=block, space=space,
                storage_path=storage, study_name=study_name, validation=split.validation(),
                filter_seen=self._filter_seen(entry), seed=self.experiment.seed,
                threads=self.experiment.threads, jobs=self.jobs, trials=target, timeout=self.tune_timeout,
                prepare=self._with_metadata,
                on_trial=lambda n, best: advance(n, f"tune {entry.name} (best {block.metric} {best:.4f})"
                                                  if best is not None else None),
            )
            self.reporter.done()
            best = {**entry.params, **outcome.best_params}
            files = tuning.write_outputs(self.run.path / folder, outcome, entry.name, entry.type, best, storage, study_name)
            record.update(outcome.record(), metric=block.metric, study=study_name, storage=str(storage),
                          files=files, objective="validation split (valid_train -> valid); test untouched")

        record = self._timed(f"tune/{entry.name}", fp([study_key, target]), [folder], work)
        self.tuned[entry.name] = record

    def _train(self, entry, split: SplitData):
        from recsys_cli.atomic import atomic_directory
        from recsys_cli.models.registry import model_class

        cls = model_class(entry.type)
        folder = f"models/{entry.name}"
        holder = {}

        def work(record):
            model = self._with_metadata(cls(self._params(entry), seed=self.experiment.seed, threads=self.experiment.threads))
            model.fit(self._train_matrix(entry, cls, split.train))
            if hasattr(model, "report_details"):
                record.update(model.report_details())
            with atomic_directory(self.run.path / folder) as tmp:
                model.save(tmp)
            record.update(type=entry.type, deterministic=cls.deterministic, params=model.params.model_dump())
            holder["model"] = model

        self._timed(f"train/{entry.name}", self._train_key(entry, split), [folder], work)
        return holder.get("model") or cls.load(self.run.path / folder)

    def _with_metadata(self, model):
        """Give item metadata (items.parquet) to models that use it (content, rerank)."""
        if getattr(model, "uses_item_metadata", False):
            model.set_item_metadata(self.dataset.items)
        return model

    def _train_matrix(self, entry, cls, train):
        """On a rated dataset a ranking model sees interactions, not rating values, unless
        its entry says `use_weights: true`; rating models always see the ratings."""
        if self.weight_kind != "rating" or cls.predicts_ratings or entry.use_weights:
            return train
        binary = train.copy()
        binary.data[:] = 1.0
        return binary

    def _filter_seen(self, entry) -> bool:
        return self.experiment.metrics.filter_seen if entry.filter_seen is None else entry.filter_seen

    def _evaluate(self, entry, model, split: SplitData) -> None:
        from recsys_cli.atomic import fingerprint as fp
        from recsys_cli.atomic import write_parquet
        from recsys_cli.evaluation.evaluate import evaluate

        metrics = self.experiment.metrics
        key = fp([self._train_key(entry, split), self.config["metrics"], self._filter_seen(entry)])
        path = f"per_user/{entry.name}.parquet"

        export = self.experiment.export
        keep = export.recommendations if export.users == "test" else 0

        def work(record):
            advance = self.reporter.progress(f"evaluate {entry.name}", len(split.test_users))
            result = evaluate(model, split.train, split.test, split.history, metrics.k, metrics.names,
                              filter_seen=self._filter_seen(entry), fold_in=split.fold_in, keep=keep,
                              seed=self.experiment.seed, progress=advance)
            self.reporter.done()
            write_parquet(self.run.path / path, result.per_user)
            record.update(summary=result.summary, intervals=result.intervals, test_users=len(result.users))
            if keep:  # the export of the same users' top-N needs no second pass
                self.test_top_lists[entry.name] = (result.top_ids[:, :keep], result.top_scores[:, :keep])

        record = self._timed(f"evaluate/{entry.name}", key, [path], work)
        self.summaries[entry.name] = record["summary"]
        self.intervals[entry.name] = {k: tuple(v) for k, v in record["intervals"].items()}

    def protocol(self, split: SplitData) -> dict:
        metrics = self.experiment.metrics
        return {
            "split": {"strategy": split.info["strategy"], "params": split.info["params"], "seed": split.info["seed"],
                      "path": str(split.path), "fingerprint": split.info["fingerprint"]},
            "k": metrics.k,
            "ranking": "full catalogue; ties by item index (implicit-based models: implicit's top-k)",
            "filter_seen": {e.name: self._filter_seen(e) for e in self.experiment.models},
            "test_users": len(split.test_users),
            "catalogue_items": int(split.train.shape[1]),
            "fold_in": split.fold_in,
            "means": "over users with test items; coverage over the catalogue",
        }

    def _write_metrics(self, split: SplitData) -> None:
        from recsys_cli.report import metrics_frame, write_metrics

        write_metrics(self.run.path, metrics_frame(self.summaries), self.intervals, self.protocol(split))

    def _export(self, models: dict, split: SplitData) -> None:
        from recsys_cli.atomic import fingerprint as fp
        from recsys_cli.atomic import write_parquet
        from recsys_cli.report import id_lookup, ranked_frame, write_top_popular

        export = self.experiment.export
        if not export.recommendations and not export.similar:
            return
        user_ids, item_ids = id_lookup(self.dataset.users, "user_idx"), id_lookup(self.dataset.items, "item_idx")
        users = split.test_users if export.users == "test" else np.arange(split.train.shape[0], dtype=np.int32)
        for entry in self.experiment.models:
            model, key = models[entry.name], fp([self._train_key(entry, split), self.config["export"], self._filter_seen(entry)])
            paths = []
            if export.recommendations:
                paths.append(f"recommendations/{entry.name}.parquet")
            if export.similar and model.has_similar_items:
                paths.append(f"similar/{entry.name}.parquet")

            def work(record, entry=entry, model=model, paths=paths):
                if export.recommendations:
                    ids, scores = self.test_top_lists.get(entry.name) or _recommend_in_chunks(
                        model, users, split, export.recommendations, self._filter_seen(entry))
                    write_parquet(self.run.path / paths[0], ranked_frame("user_id", "item_id", users, ids, scores, user_ids, item_ids))
                if export.similar and model.has_similar_items:
                    anchors = np.arange(split.train.shape[1], dtype=np.int32)
                    ids, scores = _similar_in_chunks(model, anchors, export.similar)
                    write_parquet(self.run.path / paths[-1],
                                  ranked_frame("item_id", "similar_item_id", anchors, ids, scores, item_ids, item_ids))
                record.update(files=paths)

            self._timed(f"export/{entry.name}", key, paths, work)
        if export.recommendations:
            write_top_popular(self.run.path / "top_popular.parquet", split.train, self.dataset.items, export.recommendations)

    def _report(self, split: SplitData) -> None:
        from recsys_cli.report import metrics_frame, write_report

        write_report(self.run.path, self.experiment.name, metrics_frame(self.summaries), self.protocol(split), self.run.manifest)

    def _compare(self) -> None:
        from recsys_cli.compare import compare_run

        block = self.experiment.compare

        def work(record):
            result = compare_run(self.run.path, block.models, k=block.k, anchors=block.anchors, item_ids=block.items,
                                 item_names=block.item_names, seed=self.experiment.seed, metric=block.metric)
            record.update(path=result["path"])

        self._always("compare", work)

    def tuning_summary(self) -> dict:
        """Per tuned model: default vs best on validation, and the best on test (once)."""
        out = {}
        for name, record in self.tuned.items():
            out[name] = {
                "metric": record["metric"], "default_validation": record["default_value"],
                "best_validation": record["best_value"], "test": self.summaries.get(name, {}).get(record["metric"]),
                "best_params": record["best_params"], "complete": record["complete"], "pruned": record["pruned"],
                "failed": record["failed"], "seconds": record["seconds"],
                "seconds_saved_by_pruning": record["seconds_saved_by_pruning"],
            }
        return out

    def summary(self) -> dict:
        return {
            "name": self.experiment.name, "run_id": self.run.path.name, "path": str(self.run.path),
            "status": self.run.manifest["status"], "metrics": self.summaries, "intervals_95": self.intervals,
            "tuning": self.tuning_summary(),
            "stages": {k: {"status": v.get("status"), "seconds": v.get("seconds"), "reused_from": v.get("reused_from"),
                           "artifact": v.get("artifact")}
                       for k, v in self.run.manifest["stages"].items()},
        }


def _recommend_in_chunks(model, users: np.ndarray, split: SplitData, k: int, filter_seen: bool):
    from recsys_cli.evaluation.evaluate import USERS_PER_CHUNK
    from recsys_cli.models.topk import in_batches

    return in_batches(lambda batch: model.recommend(batch, split.history, k, filter_seen=filter_seen,
                                                    fold_in=split.fold_in), users, USERS_PER_CHUNK)


def _similar_in_chunks(model, anchors: np.ndarray, k: int, chunk: int = 4096):
    from recsys_cli.models.topk import in_batches

    return in_batches(lambda batch: model.similar_items(batch, k), anchors, chunk)


def run_experiment(config_path: Path, runs_dir: Path = Path("runs"), until: str = "report", wait: bool = True,
                   reporter: Reporter | None = None) -> dict:
    """Load and validate an experiment file, then run its stages up to `until`."""
    from recsys_cli.config import load_experiment

    experiment, _ = load_experiment(config_path)
    return ExperimentRun(experiment, runs_dir, reporter).execute(until=until, wait=wait)


def tune_experiment(config_path: Path, runs_dir: Path = Path("runs"), models: list[str] | None = None,
                    trials: int | None = None, timeout: float | None = None, jobs: int = 1,
                    metric: str | None = None, wait: bool = True, reporter: Reporter | None = None) -> dict:
    """`recsys tune`: tune the chosen models on validation (those named, else those with a
    `tune:` entry, else every model with something to tune), then train each best on the
    whole train split and evaluate it once on test."""
    from pydantic import ValidationError

    from recsys_cli.config import TuneBlock, load_experiment
    from recsys_cli.models.registry import model_class

    experiment, _ = load_experiment(config_path)
    known = [m.name for m in experiment.models]
    unknown = [m for m in models or [] if m not in known]
    if unknown:
        raise InputError(f"no model named {', '.join(unknown)} in the experiment; it has {', '.join(known)}",
                         path=config_path)
    chosen = [m for m in experiment.models if (m.name in models if models else m.tune_block() is not None)]
    if not chosen:
        chosen = [m for m in experiment.models if model_class(m.type).tune_space]
    tuned = []
    for entry in chosen:
        block = entry.tune_block() or TuneBlock()
        if metric is not None:
            try:
                block = TuneBlock.model_validate({**block.model_dump(), "metric": metric})
            except ValidationError as error:
                raise InputError(f"--metric {metric!r}: {error.errors()[0]['msg']}") from None
        tuned.append(entry.model_copy(update={"tune": block}))
    if not tuned:
        raise InputError("nothing to tune: no model in the experiment has parameters to search", path=config_path)
    experiment = experiment.model_copy(update={"models": tuned})
    runner = ExperimentRun(experiment, runs_dir, reporter, jobs=jobs, tune_trials=trials, tune_timeout=timeout)
    return runner.execute(until="evaluate", wait=wait)
