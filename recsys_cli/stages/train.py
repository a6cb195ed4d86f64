"""The train stage: one model entry fitted on a split's train part -> models/<name>/ (saved
model + trained_on.json naming the split). A stored model is loaded instead of refitted."""

from __future__ import annotations

from pathlib import Path

from recsys_cli.core.atomic import read_json, write_json
from recsys_cli.data.split_folder import SplitData
from recsys_cli.core.errors import InputError
from recsys_cli.stages.context import RunContext


TRAINED_ON = "trained_on.json"  # beside a saved model: the split it was fitted on


class TrainedModel:
    """A trained model, loaded from its folder on first `get()`: a re-run whose evaluation
    and export are reused never reads (nor imports the library of) a saved model."""

    def __init__(self, load, model=None):
        self._load, self._model = load, model

    def get(self):
        if self._model is None:
            self._model = self._load()
        return self._model


def train(ctx: RunContext, entry, split: SplitData) -> TrainedModel:
    """The entry's model fitted on `split` (or, when used, loaded from the run folder,
    where the store linked it)."""
    from recsys_cli.core.atomic import atomic_directory
    from recsys_cli.models.registry import build_model, load_model

    folder = f"{ctx.prefix}models/{entry.name}"
    holder = {}

    def work(record):
        from recsys_cli.models.weighting import unweighted_warning

        model = build_model(entry.type, ctx.params(entry), seed=ctx.experiment.seed,
                            threads=ctx.experiment.threads, **ctx.build_options(entry))
        warning = None if model.binary_input else unweighted_warning(model.params, split.train)
        if warning:
            ctx.reporter.message(f"{entry.name}: {warning}")
            record.update(warning=warning)
        model.on_progress = lambda done, total, what: ctx.reporter.detail(f"{entry.name}: {what}", done, total)
        try:
            model.fit(split.train)
        finally:
            ctx.reporter.end_detail()
        model.on_progress = None
        record.update(model.report_details())
        with atomic_directory(ctx.run.path / folder) as tmp:
            model.save(tmp)
            write_json(tmp / TRAINED_ON, {"split": split.info["fingerprint"], "shape": list(split.shape)})
        record.update(type=entry.type, deterministic=model.deterministic, params=model.params.model_dump(),
                      binary_input=model.binary_input)
        holder["model"] = model

    ctx.timed(f"{ctx.prefix}train/{entry.name}", ctx.train_key(entry, split), [folder], work)

    def load():
        check_trained_on(ctx.run.path / folder, split)
        return load_model(entry.type, ctx.run.path / folder)

    return TrainedModel(load, holder.get("model"))


def check_trained_on(folder: Path, split: SplitData) -> None:
    """A model loaded for evaluation or export must have been fitted on this split."""
    record = read_json(folder / TRAINED_ON)
    if record is None:
        raise InputError(f"no {TRAINED_ON}: cannot tell which split this model was trained on; "
                         "delete the folder to retrain", path=folder)
    if record.get("split") != split.info["fingerprint"] or tuple(record.get("shape") or ()) != split.shape:
        raise InputError(f"this model was trained on split {record.get('split')} {tuple(record.get('shape') or ())}, "
                         f"not on {split.path} ({split.info['fingerprint']}, {split.shape}); delete it to retrain",
                         path=folder)
