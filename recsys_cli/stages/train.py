"""The train stage: a model spec fitted on a split's train part -> models/<name>/ (saved
model + trained_on.json naming the split) and a `TrainedModel`. A stored model is loaded
instead of refitted, and only when something needs it."""

from __future__ import annotations

from pathlib import Path

from recsys_cli.core.atomic import read_json, write_json
from recsys_cli.core.errors import InputError
from recsys_cli.data.split_folder import SplitData
from recsys_cli.stages.env import StageEnv
from recsys_cli.stages.records import ModelSpec, TrainedModel

TRAINED_ON = "trained_on.json"  # beside a saved model: the split it was fitted on


def train(env: StageEnv, spec: ModelSpec, split: SplitData) -> TrainedModel:
    """The spec's model fitted on `split` (or, when used, loaded from the run folder, where
    the store linked it)."""
    from recsys_cli.core.atomic import atomic_directory
    from recsys_cli.models.registry import load_model

    relative = f"{env.prefix}models/{spec.name}"
    folder = env.run.path / relative
    key = spec.key(split.info["fingerprint"], env.experiment.seed, env.experiment.threads)
    fitted = {}

    def work(record):
        from recsys_cli.models.weighting import unweighted_warning

        model = env.build_model(spec)
        warning = None if model.binary_input else unweighted_warning(model.params, split.train)
        if warning:
            env.reporter.message(f"{spec.name}: {warning}")
            record.update(warning=warning)
        model.on_progress = lambda done, total, what: env.reporter.detail(f"{spec.name}: {what}", done, total)
        try:
            model.fit(split.train)
        finally:
            env.reporter.end_detail()
        model.on_progress = None
        record.update(model.report_details())
        with atomic_directory(folder) as tmp:
            model.save(tmp)
            write_json(tmp / TRAINED_ON, {"split": split.info["fingerprint"], "shape": list(split.shape)})
        record.update(type=spec.type, deterministic=model.deterministic, params=model.params.model_dump(),
                      binary_input=model.binary_input)
        fitted["model"] = model

    env.timed(f"{env.prefix}train/{spec.name}", key, [relative], work)

    def load():
        check_trained_on(folder, split)
        return load_model(spec.type, folder)

    return TrainedModel(spec, key, folder, load, fitted.get("model"))


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
