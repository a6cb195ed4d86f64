"""The ingest stage: a raw log in one of the source formats -> the canonical dataset folder.

`ingest` is what `recsys ingest` calls; `dataset_for_run` is the run's step, which records
the dataset it used in the manifest. The rebuild re-hashes the sources, so an unchanged
ingest is a no-op."""

from __future__ import annotations

import json
from pathlib import Path

from recsys_cli.data.filters import IngestFilters
from recsys_cli.errors import InputError
from recsys_cli.stages.context import RunContext, StageResult, existing_info


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
    previous = existing_info(out, "dataset.json")
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


def dataset_for_run(ctx: RunContext) -> Path:
    """The run's dataset folder: ingested (or found up to date) from the config's `dataset:`
    block, or the ready folder it names."""
    from recsys_cli.config import IngestBlock

    block = ctx.experiment.dataset
    target = ctx.experiment.dataset_dir()
    if not isinstance(block, IngestBlock):
        from recsys_cli.data.dataset import Dataset

        dataset = Dataset.open(target)
        ctx.run.manifest["stages"]["ingest"] = {"status": "done", "fingerprint": dataset.fingerprint,
                                                "dataset": str(target), "seconds": 0.0}
        ctx.run.save()
        return target

    def work(entry):
        result = ingest(block.format, block.path, target, block.reader_options(),
                        block.filters(ctx.seeds["debug_slice"]), on_wait=ctx.dataset_wait(target))
        entry.update(dataset=str(target), skipped=result.skipped,
                     dataset_fingerprint=result.info.get("fingerprint"))

    ctx.always("ingest", work)
    return target
