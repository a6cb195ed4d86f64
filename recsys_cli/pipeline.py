"""The stages as plain functions over typed inputs; the CLI and `recsys run` call these.

Each stage writes its output folder atomically and records a fingerprint of its inputs, so
running it again with the same inputs is a no-op.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from recsys_cli.atomic import atomic_directory, file_sha256, fingerprint, write_json, write_npz
from recsys_cli.data.filters import IngestFilters
from recsys_cli.data.split_folder import SplitData, load_split
from recsys_cli.errors import InputError
from recsys_cli.seeds import DEFAULT_SEED, validation_seed
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
    on_wait=None,
) -> StageResult:
    """Read `source` in format `fmt` and write the canonical dataset folder `out`.

    `out` must be missing, empty or a dataset folder (never the source); the rebuild holds
    the dataset's exclusive lock, so it waits for runs reading the old folder (`on_wait(why)`
    is told when it has to)."""
    from recsys_cli.data.build import build_dataset, ingest_fingerprint, source_digests
    from recsys_cli.data.sources import reader

    from recsys_cli.atomic import check_output_folder
    from recsys_cli.data.dataset_lock import dataset_lock

    options = {k: v for k, v in (options or {}).items() if v is not None}
    filters = filters or IngestFilters()
    read = reader(fmt)
    if source is not None and not Path(source).exists():
        raise InputError("no such file or folder", path=source)
    out = Path(out)
    sources = [source] if source is not None else []
    check_output_folder(out, "dataset.json", sources)  # before any reading
    # A JSON round trip, so options compare equal to the ones read back from dataset.json.
    recorded_options = json.loads(json.dumps(
        {"source": str(source) if source is not None else None, **options}, default=str))
    previous = _existing_info(out, "dataset.json")
    if not force and _ingest_is_current(previous, fmt, recorded_options, filters):
        return StageResult(out, previous, skipped=True)
    tables = read(Path(source) if source is not None else None, **options)
    digests = source_digests(tables.files)
    with dataset_lock(out, exclusive=True, on_wait=on_wait):
        info = build_dataset(
            tables, out, fmt=fmt, options=recorded_options, filters=filters, digests=digests,
            dataset_fingerprint=ingest_fingerprint(fmt, digests, recorded_options, filters), sources=sources,
            weighting=_ingest_weighting(filters),
        )
    return StageResult(out, info, skipped=False)


def _ingest_weighting(filters: IngestFilters):
    from recsys_cli.models.weighting import apply_weighting

    if filters.weighting in (None, "none"):
        return None
    return lambda matrix: apply_weighting(matrix, filters.weighting, eps=filters.weighting_eps)


def ingest_warnings(info: dict) -> list[str]:
    """What a user should know about a dataset before training on it (raw counts' spread)."""
    from recsys_cli.models.weighting import spread_warning

    values = info.get("weight_range")
    if not values or info.get("weighting") not in (None, "none") or info.get("weight_kind") == "rating":
        return []
    warning = spread_warning(values["median"], values["max"])
    return [warning] if warning else []


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
    seed: int = DEFAULT_SEED,
    validation: bool = False,
    force: bool = False,
) -> StageResult:
    """Split a dataset folder into train/test (and validation) CSR files under `out`
    (missing, empty or a split folder), reading the dataset under its shared lock."""
    from recsys_cli.atomic import check_output_folder
    from recsys_cli.data.dataset_lock import dataset_lock
    from recsys_cli.data.splits import check_strategy

    from recsys_cli.data.dataset import Dataset

    check_strategy(strategy)  # before any data is read
    Dataset.open(dataset_dir)
    check_output_folder(out, "split.json", [dataset_dir])
    with dataset_lock(dataset_dir, exclusive=False):
        return _split_locked(dataset_dir, strategy, Path(out), params, seed, validation, force)


def _split_locked(dataset_dir, strategy, out, params, seed, validation, force) -> StageResult:
    from recsys_cli.data import splits
    from recsys_cli.data.dataset import Dataset

    dataset = Dataset.open(dataset_dir)
    params = {k: v for k, v in (params or {}).items() if v is not None}
    key = fingerprint({"dataset": dataset.fingerprint, "strategy": strategy, "params": params,
                       "seed": seed, "validation": validation, "version": 2})  # 2: validation on every user
    previous = _existing_info(out, "split.json")
    if not force and previous is not None and previous.get("fingerprint") == key:
        return StageResult(out, previous, skipped=True)

    events = dataset.scan_events() if strategy in splits.TIME_STRATEGIES else None
    cells = splits.Cells.from_matrix(dataset.matrix, events)
    labels = splits.assign(cells, strategy, params, seed)
    if not (labels == splits.TRAIN).any():
        raise InputError(f"strategy {strategy!r} with {params or 'its defaults'} leaves train empty "
                         "(every interaction went to test); choose a later cut-off or a smaller share",
                         path=dataset.path)
    parts = {splits.PART_FILES[code]: cells.to_csr(labels == code) for code in np.unique(labels)}
    parts.setdefault("test", cells.to_csr(np.zeros(len(labels), dtype=bool)))
    if validation:
        train_cells = cells.subset(labels == splits.TRAIN)
        valid_params = splits.validation_params(strategy, params, labels)
        valid_labels = splits.assign(train_cells, strategy, valid_params, validation_seed(seed))
        for code in np.unique(valid_labels):
            parts[splits.VALIDATION_FILES[code]] = train_cells.to_csr(valid_labels == code)

    with atomic_directory(out, "split.json", sources=[dataset.path]) as tmp:
        for name, matrix in parts.items():
            write_npz(tmp / f"{name}.npz", matrix)
        info = {
            "strategy": strategy,
            "params": {**splits.strategy_params(strategy), **params},
            "seed": seed,
            "validation": validation,
            **({"validation_params": valid_params} if validation else {}),
            "validation_seed": validation_seed(seed) if validation else None,
            **splits.notes(cells, strategy, params),
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

    def detail(self, description: str, done: int, total: int) -> None:
        """Progress within one long step (a model's fit), under the current bar."""

    def end_detail(self) -> None:
        pass


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
        self.default_tests: dict[str, dict] = {}  # tuned model name -> its untuned default's test summary
        self.reporter = reporter or Reporter()
        self.runs_dir = Path(runs_dir).absolute()
        self.config = experiment.model_dump(mode="json")
        self.config_fingerprint = fp(self.config)
        self.seeds = experiment.seeds()  # every seed the run uses; recorded in the manifest
        self.run = None
        self.store = ArtifactStore.for_runs(self.runs_dir)
        self.summaries: dict[str, dict] = {}
        self.best: dict[str, str | None] = {}  # metric@k -> significantly best model (None: no clear winner)
        self.prefix = ""  # run-folder prefix of the split being trained and scored: "" or repeats/<r>/
        self.repeats: dict = {}  # aggregate over repeated splits (split: {repeats/folds})
        self.intervals: dict[str, dict] = {}
        self.test_top_lists: dict[str, tuple] = {}  # model -> (ids, scores) from a fresh evaluation
        self.breakdowns: dict[str, dict] = {}  # model -> metrics by user activity / item popularity
        self.cold: dict | None = None  # the cold users' evaluation record (popularity fallback)
        self.user_counts: dict | None = None  # test users: warm, cold

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
                from recsys_cli.backends import open_backend

                with open_backend(self.experiment) as self.backend:
                    self.run.manifest["backend"] = self.backend.describe()
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
        from recsys_cli.data.dataset_lock import dataset_lock

        dataset_dir = self._ingest()
        # Held shared to the end: an ingest of another config into the same folder waits.
        with dataset_lock(dataset_dir, exclusive=False, on_wait=self._dataset_wait(dataset_dir)):
            return self._chain_on(dataset_dir, until)

    def _dataset_wait(self, dataset_dir: Path):
        return lambda why: self.reporter.message(f"waiting for the dataset folder {dataset_dir} ({why})...")

    def _chain_on(self, dataset_dir: Path, until: str) -> dict:
        from recsys_cli.data.dataset import Dataset

        self.dataset = Dataset.open(dataset_dir)  # items/users tables are read once, on first use
        ingested = self.run.manifest["stages"].get("ingest", {}).get("dataset_fingerprint")
        if ingested is not None and ingested != self.dataset.fingerprint:
            raise InputError(f"the dataset folder was replaced by another ingest after this run's ingest "
                             f"(fingerprint {ingested} -> {self.dataset.fingerprint}): two configs write one "
                             "dataset folder; give each its own `dataset.out`", path=dataset_dir)
        self.weight_kind = self.dataset.info.get("weight_kind", "implicit")
        split = self._split(dataset_dir)
        self.run.manifest["seeds"] = self.seeds
        self.run.save()
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
                if entry.name in self.tuned:
                    self._evaluate_default(entry, split)
            self._evaluate_cold(split)
            if self.experiment.split.count > 1:
                self._other_repeats(dataset_dir, split)
            self._write_metrics(split)
            if until == "evaluate" and self.tuned:  # a tune-only run folder gets its report too
                self._report(split)
        if until == "report":
            self._export(models, split)
            self._report(split)
            if self.experiment.compare is not None:
                self._compare()
            self.run.complete()
        else:
            self.run.reached(f"{until} done")
        if until == "report" or self.tuned:
            self._html_report()
        return self.summary()

    def _html_report(self) -> None:
        """report.html from the finished folder. The page only shows what is already saved,
        so a failure to draw it is logged and reported, and never fails the run."""
        from recsys_cli.report_html.page import write_html_report

        try:
            write_html_report(self.run.path)
        except Exception as error:  # noqa: BLE001 - the run's results are complete either way
            self.run.log(f"report.html: not written: {type(error).__name__}: {error}")
            self.reporter.message(f"report.html not written ({type(error).__name__}: {error}); "
                                  f"retry with `recsys report {self.run.path}`")

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
            result = ingest(block.format, block.path, target, block.reader_options(),
                            block.filters(self.seeds["debug_slice"]), on_wait=self._dataset_wait(target))
            entry.update(dataset=str(target), skipped=result.skipped,
                         dataset_fingerprint=result.info.get("fingerprint"))

        self._always("ingest", work)
        return target

    def _always(self, stage: str, work) -> None:
        """Stages that decide for themselves whether they are up to date (by re-hashing)."""
        import time

        started = time.perf_counter()
        with self.run.stage(stage, "self-checked") as entry:
            work(entry)
        self.reporter.stage(stage, time.perf_counter() - started, skipped=entry.get("skipped", False))

    def _split(self, dataset_dir: Path, repeat: int = 0) -> SplitData:
        from recsys_cli.atomic import fingerprint as fp

        block = self.experiment.split
        if block.path is not None:
            data = load_split(block.path, self.dataset)
            self.seeds.update(split=data.info["seed"], validation=data.info.get("validation_seed"))
        else:
            params, seed = block.repeat(repeat, self.seeds["split"])
            # Tuning needs a validation part: carve it even when the config does not ask
            # (tuning uses the first split's alone).
            validation = block.validation or (repeat == 0 and any(e.tune_block() for e in self.experiment.models))
            folder = dataset_dir / "splits" / f"{block.strategy}-{fp([params, seed, validation])[:8]}"

            def work(entry):
                result = split(dataset_dir, block.strategy, folder, params, seed=seed, validation=validation)
                entry.update(path=str(folder), skipped=result.skipped)

            self._always(f"{self.prefix}split", work)
            data = load_split(folder, self.dataset)
        return data

    def _other_repeats(self, dataset_dir: Path, first: SplitData) -> None:
        """`split: {repeats: R}` / `{folds: F}`: train and score every model on splits 1..R-1
        too, under repeats/<r>/ (the first split keeps the run folder's usual places, so export,
        compare and recommend work on it unchanged); then aggregate over all R."""
        from recsys_cli.evaluation import repeats
        from recsys_cli.report import LOWER_IS_BETTER

        block = self.experiment.split
        per_repeat, splits = [dict(self.summaries)], [first]
        # The first split's records stay the run's: export, breakdown and report read them.
        kept = (self.summaries, dict(self.intervals), dict(self.breakdowns), dict(self.test_top_lists))
        try:
            for index in range(1, block.count):
                self.prefix = f"repeats/{index}/"
                split_r = self._split(dataset_dir, index)
                self.summaries = {}
                for entry in self.experiment.models:
                    self._evaluate(entry, self._train(entry, split_r), split_r)
                per_repeat.append(dict(self.summaries))
                splits.append(split_r)
        finally:
            self.prefix = ""
            self.summaries, self.intervals, self.breakdowns, self.test_top_lists = kept
        self.repeats = repeats.summarise(per_repeat, [s.info["seed"] for s in splits], [str(s.path) for s in splits],
                                         [len(s.test_users) for s in splits], folds=block.folds, seed=self.seeds["split"],
                                         lower_is_better=LOWER_IS_BETTER)

    def _train_key(self, entry, split: SplitData, params=None) -> str:
        from recsys_cli.atomic import fingerprint as fp
        from recsys_cli.models.registry import model_class

        cls = model_class(entry.type)
        params = params if params is not None else self._params(entry)
        return fp({"split": split.info["fingerprint"], "type": entry.type, "use_weights": entry.use_weights,
                   "params": params.model_dump(), "seed": self.experiment.seed,
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
                        "filter_seen": self._filter_seen(entry), "folds": block.folds, "use_weights": entry.use_weights})
        study_name = f"{self.experiment.name}-{entry.name}-{study_key[:8]}"
        storage = self.backend.study_storage(self.runs_dir / self.experiment.name / "tune" / entry.name)
        target = self.tune_trials or block.trials
        folder = f"tune/{entry.name}"

        def work(record):
            from recsys_cli.data.folds import extra_folds

            folds = extra_folds(split.train, split.info["strategy"], split.info["params"], split.info["seed"],
                                block.folds) if block.folds > 1 else []
            advance = self.reporter.progress(f"tune {entry.name}", target)
            outcome = self.backend.run_study(
                model_type=entry.type, base_params=entry.params, block=block, space=space,
                storage_path=storage, study_name=study_name, validation=split.validation(),
                filter_seen=self._filter_seen(entry), seed=self.experiment.seed,
                threads=self.experiment.threads, jobs=self.jobs, trials=target, timeout=self.tune_timeout,
                build_options=self._build_options(entry), extra_folds=folds,
                on_trial=lambda n, best: advance(n, f"tune {entry.name} (best {block.metric} {best:.4f})"
                                                  if best is not None else None),
            )
            self.reporter.done()
            best = {**entry.params, **outcome.best_params}
            files = tuning.write_outputs(self.run.path / folder, outcome, entry.name, entry.type, best, storage, study_name)
            where = (f"mean over {block.folds} seeded validation folds" if block.folds > 1
                     else "the split's validation part")
            record.update(outcome.record(), metric=block.metric, study=study_name, storage=str(storage), files=files,
                          objective=f"{block.metric} on {where} (valid_train -> valid); test untouched")

        record = self._timed(f"tune/{entry.name}", fp([study_key, target]), [folder], work)
        self.tuned[entry.name] = record

    def _train(self, entry, split: SplitData):
        from recsys_cli.atomic import atomic_directory
        from recsys_cli.models.registry import build_model, load_model

        folder = f"{self.prefix}models/{entry.name}"
        holder = {}

        def work(record):
            from recsys_cli.models.weighting import unweighted_warning

            model = build_model(entry.type, self._params(entry), seed=self.experiment.seed,
                                threads=self.experiment.threads, **self._build_options(entry))
            warning = None if model.binary_input else unweighted_warning(model.params, split.train)
            if warning:
                self.reporter.message(f"{entry.name}: {warning}")
                record.update(warning=warning)
            model.on_progress = lambda done, total, what: self.reporter.detail(f"{entry.name}: {what}", done, total)
            try:
                model.fit(split.train)
            finally:
                self.reporter.end_detail()
            model.on_progress = None
            record.update(model.report_details())
            with atomic_directory(self.run.path / folder) as tmp:
                model.save(tmp)
                write_json(tmp / TRAINED_ON, {"split": split.info["fingerprint"], "shape": list(split.shape)})
            record.update(type=entry.type, deterministic=model.deterministic, params=model.params.model_dump(),
                          binary_input=model.binary_input)
            holder["model"] = model

        self._timed(f"{self.prefix}train/{entry.name}", self._train_key(entry, split), [folder], work)
        if "model" in holder:
            return holder["model"]
        _check_trained_on(self.run.path / folder, split)
        return load_model(entry.type, self.run.path / folder)

    def _evaluate_default(self, entry, split: SplitData) -> None:
        """The untuned parameters, trained on train and scored on test once, beside the tuned
        best: a search that only wins on validation (overfitting it) shows here."""
        from recsys_cli.atomic import fingerprint as fp
        from recsys_cli.evaluation.evaluate import evaluate
        from recsys_cli.models.registry import build_model, model_class

        cls = model_class(entry.type)
        default = cls.Params.model_validate(entry.params)
        if default == self._params(entry):  # the search kept the default: same model, same scores
            self.default_tests[entry.name] = {"summary": self.summaries[entry.name], "same_as_best": True}
            return
        key = fp([self._train_key(entry, split, default), self.config["metrics"], self._filter_seen(entry)])

        def work(record):
            model = build_model(entry.type, default, seed=self.experiment.seed, threads=self.experiment.threads,
                                **self._build_options(entry))
            model.fit(split.train)
            metrics = self.experiment.metrics
            result = evaluate(model, split.train, split.test, split.history, metrics.k, metrics.names,
                              filter_seen=self._filter_seen(entry), fold_in=split.fold_in, seed=self.seeds["bootstrap"])
            record.update(summary=result.summary, intervals=result.intervals, params=default.model_dump())

        record = self._timed(f"evaluate/{entry.name}@default", key, [], work)
        self.default_tests[entry.name] = {"summary": record["summary"], "same_as_best": False}

    def _build_options(self, entry) -> dict:
        """build_model's dataset-dependent options: item metadata (read on first use) and, on
        a rated dataset, whether the entry's model learns from interactions or the values."""
        return {"items": functools.partial(_dataset_items, self.dataset), "rated": self.weight_kind == "rating",
                "use_weights": entry.use_weights}

    def _filter_seen(self, entry) -> bool:
        return self.experiment.metrics.filter_seen if entry.filter_seen is None else entry.filter_seen

    def _evaluate(self, entry, model, split: SplitData) -> None:
        from recsys_cli.atomic import fingerprint as fp
        from recsys_cli.atomic import write_parquet
        from recsys_cli.evaluation.breakdown import breakdown
        from recsys_cli.report import with_user_ids

        metrics = self.experiment.metrics
        # "ids+breakdown": per_user files carry user ids and records the breakdown (older ones are redone).
        key = fp([self._train_key(entry, split), self.config["metrics"], self._filter_seen(entry), "ids+breakdown"])
        path = f"{self.prefix}per_user/{entry.name}.parquet"

        export = self.experiment.export
        keep = export.recommendations if export.users == "test" and not self.prefix else 0  # export: first split

        def work(record):
            advance = self.reporter.progress(f"evaluate {entry.name}", len(split.test_users))
            result = self.backend.evaluate(model, split.train, split.test, split.history, metrics.k, metrics.names,
                                           filter_seen=self._filter_seen(entry), fold_in=split.fold_in,
                                           keep=max(keep, max(metrics.k)),  # the breakdown ranks held-out items
                                           seed=self.seeds["bootstrap"], progress=advance)
            self.reporter.done()
            write_parquet(self.run.path / path, with_user_ids(result.per_user, self.dataset.users))
            record.update(summary=result.summary, intervals=result.intervals, test_users=len(result.users),
                          breakdown=breakdown(result.per_user, result.top_ids, result.users, split.train, split.test,
                                              split.history, metrics.k))
            if keep:  # the export of the same users' top-N needs no second pass
                self.test_top_lists[entry.name] = (result.top_ids[:, :keep], result.top_scores[:, :keep])

        record = self._timed(f"{self.prefix}evaluate/{entry.name}", key, [path], work)
        self.summaries[entry.name] = record["summary"]
        self.intervals[entry.name] = {k: tuple(v) for k, v in record["intervals"].items()}
        self.breakdowns[entry.name] = record.get("breakdown", {})

    def _evaluate_cold(self, split: SplitData) -> None:
        """Test users with no train history (a temporal split's test_cold part): every model
        falls back to popularity for them, so they are evaluated once, on their own rows."""
        from recsys_cli.atomic import fingerprint as fp
        from recsys_cli.evaluation.breakdown import evaluate_cold

        if not split.has("test_cold") or split.read_part("test_cold").nnz == 0:
            return
        metrics = self.experiment.metrics

        def work(record):
            result = evaluate_cold(split.train, split.read_part("test_cold"), metrics.k, metrics.names,
                                   seed=self.seeds["bootstrap"])
            record.update(summary=result.summary, intervals=result.intervals, test_users=len(result.users),
                          ranking="popularity fallback (train users per item), the same for every model")

        key = fp([split.info["fingerprint"], self.config["metrics"], self.seeds["bootstrap"]])
        self.cold = self._timed("evaluate/cold-users", key, [], work)

    def _breakdown_extra(self, split: SplitData) -> dict:
        from recsys_cli.evaluation.breakdown import warm_and_cold

        extra = warm_and_cold(self.summaries, self.breakdowns, len(split.test_users), self.cold)
        self.user_counts = extra["test_users"]
        return extra

    def protocol(self, split: SplitData) -> dict:
        metrics = self.experiment.metrics
        return {
            "split": {"strategy": split.info["strategy"], "params": split.info["params"], "seed": split.info["seed"],
                      "path": str(split.path), "fingerprint": split.info["fingerprint"]},
            "k": metrics.k,
            "ranking": "full catalogue; ties by item index (implicit-based models: implicit's top-k)",
            "filter_seen": {e.name: self._filter_seen(e) for e in self.experiment.models},
            "test_users": len(split.test_users),
            "cold_test_users": self.cold["test_users"] if self.cold else 0,
            "catalogue_items": int(split.train.shape[1]),
            "fold_in": split.fold_in,
            "means": "over users with test items; coverage over the catalogue",
        }

    def _write_metrics(self, split: SplitData) -> None:
        from recsys_cli.report import metrics_frame, write_metrics

        self.best = self._significant_best()
        write_metrics(self.run.path, metrics_frame(self.summaries), self.intervals, self.protocol(split),
                      extra=self._breakdown_extra(split), tuning=self.tuning_summary(), best=self.best,
                      repeats=self.repeats)

    def _significant_best(self) -> dict:
        """metric@k -> the model significantly better than every other on per-user test values."""
        import polars as pl

        from recsys_cli.evaluation.significance import significant_best_per_column
        from recsys_cli.report import LOWER_IS_BETTER

        columns = list(dict.fromkeys(key for summary in self.summaries.values() for key in summary))
        per_user = {}
        for name in self.summaries:
            frame = pl.read_parquet(self.run.path / "per_user" / f"{name}.parquet").sort("user_idx")
            per_user[name] = {c: frame[c].to_numpy() for c in columns if c in frame.columns}
        # The t-test: O(users) per comparison, over every column and model (compare's
        # permutation test costs resamples x users per pair).
        return significant_best_per_column(per_user, columns, LOWER_IS_BETTER, test="t")

    def _export(self, models: dict, split: SplitData) -> None:
        from recsys_cli.atomic import fingerprint as fp
        from recsys_cli.atomic import write_parquet
        from recsys_cli.report import id_lookup, ranked_frame, with_item_names, write_top_popular

        export = self.experiment.export
        if not export.recommendations and not export.similar:
            return
        user_ids, item_ids = id_lookup(self.dataset.users, "user_idx"), id_lookup(self.dataset.items, "item_idx")
        users = split.test_users if export.users == "test" else np.arange(split.train.shape[0], dtype=np.int32)
        for entry in self.experiment.models:
            model, key = models[entry.name], fp([self._train_key(entry, split), self.config["export"],
                                                 self._filter_seen(entry), "names"])  # exports carry item names
            paths = []
            if export.recommendations:
                paths.append(f"recommendations/{entry.name}.parquet")
            if export.similar and model.has_similar_items:
                paths.append(f"similar/{entry.name}.parquet")

            def work(record, entry=entry, model=model, paths=paths):
                if export.recommendations:
                    ids, scores = self.test_top_lists.get(entry.name) or self.backend.recommend(
                        model, users, split.history, export.recommendations, filter_seen=self._filter_seen(entry),
                        fold_in=split.fold_in)
                    frame = ranked_frame("user_id", "item_id", users, ids, scores, user_ids, item_ids)
                    write_parquet(self.run.path / paths[0], with_item_names(frame, self.dataset.items, "item_id", "name"))
                if export.similar and model.has_similar_items:
                    anchors = np.arange(split.train.shape[1], dtype=np.int32)
                    ids, scores = _similar_in_chunks(model, anchors, export.similar)
                    frame = ranked_frame("item_id", "similar_item_id", anchors, ids, scores, item_ids, item_ids)
                    frame = with_item_names(frame, self.dataset.items, "item_id", "name")
                    write_parquet(self.run.path / paths[-1],
                                  with_item_names(frame, self.dataset.items, "similar_item_id", "similar_name"))
                record.update(files=paths)

            self._timed(f"export/{entry.name}", key, paths, work)
        if export.recommendations:
            write_top_popular(self.run.path / "top_popular.parquet", split.train, self.dataset.items, export.recommendations)

    def _report(self, split: SplitData) -> None:
        from recsys_cli.evaluation.breakdown import markdown
        from recsys_cli.report import metrics_frame, write_report

        from recsys_cli.evaluation import repeats
        from recsys_cli.tuning_report import tuning_markdown

        extra = self._breakdown_extra(split)
        text = markdown(extra["test_users"], extra["cold_users"], extra["all_test_users"], self.breakdowns,
                        self._headline_metric())
        text += tuning_markdown(self.tuning_summary())
        if self.repeats:
            text += repeats.markdown(self.repeats, self.repeats["significantly_best"])
        write_report(self.run.path, self.experiment.name, metrics_frame(self.summaries), self.protocol(split),
                     self.run.manifest, best=self.best, extra=text)

    def _headline_metric(self) -> str:
        metrics = self.experiment.metrics
        return f"{metrics.names[0]}@{max(metrics.k)}"

    def _compare(self) -> None:
        from recsys_cli.compare import compare_run

        block = self.experiment.compare

        def work(record):
            result = compare_run(self.run.path, block.models, k=block.k, anchors=block.anchors, item_ids=block.items,
                                 item_names=block.item_names, seed=self.seeds["compare"], metric=block.metric,
                                 test=block.test)
            record.update(path=result["path"])

        self._always("compare", work)

    def tuning_summary(self) -> dict:
        """Per tuned model: default vs best on validation and on test (each trained on train
        and tested once), and whether the tuned model is worse on test than its default."""
        out = {}
        for name, record in self.tuned.items():
            metric = record["metric"]
            best_test = self.summaries.get(name, {}).get(metric)
            default_test = self.default_tests.get(name, {}).get("summary", {}).get(metric)
            out[name] = {
                "metric": metric, "objective": record.get("objective"), "folds": record.get("folds", 1),
                "default_validation": record["default_value"], "best_validation": record["best_value"],
                "validation_spread": {"default": record.get("default_spread", {}), "best": record.get("best_spread", {})},
                "default_test": default_test, "test": best_test,
                "worse_on_test": None if best_test is None or default_test is None else best_test < default_test,
                "best_params": record["best_params"], "complete": record["complete"], "pruned": record["pruned"],
                "failed": record["failed"], "seconds": record["seconds"],
                "seconds_saved_by_pruning": record["seconds_saved_by_pruning"],
            }
        return out

    def summary(self) -> dict:
        return {
            "name": self.experiment.name, "run_id": self.run.path.name, "path": str(self.run.path),
            "status": self.run.manifest["status"], "metrics": self.summaries, "intervals_95": self.intervals,
            "significantly_best": self.best, "repeats": self.repeats,
            "tuning": self.tuning_summary(),
            "test_users": self.user_counts,
            "cold_users": self.cold["summary"] if self.cold else None,
            "stages": {k: {"status": v.get("status"), "seconds": v.get("seconds"), "reused_from": v.get("reused_from"),
                           "artifact": v.get("artifact")}
                       for k, v in self.run.manifest["stages"].items()},
        }


def _dataset_items(dataset):
    """items.parquet's table, read on first use. A module function of the (picklable)
    dataset, so tuning trials can build models on Ray workers."""
    return dataset.items


TRAINED_ON = "trained_on.json"  # beside a saved model: the split it was fitted on


def _check_trained_on(folder: Path, split: SplitData) -> None:
    """A model loaded for evaluation or export must have been fitted on this split."""
    record = _existing_info(folder, TRAINED_ON)
    if record is None:
        raise InputError(f"no {TRAINED_ON}: cannot tell which split this model was trained on; "
                         "delete the folder to retrain", path=folder)
    if record.get("split") != split.info["fingerprint"] or tuple(record.get("shape") or ()) != split.shape:
        raise InputError(f"this model was trained on split {record.get('split')} {tuple(record.get('shape') or ())}, "
                         f"not on {split.path} ({split.info['fingerprint']}, {split.shape}); delete it to retrain",
                         path=folder)


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
