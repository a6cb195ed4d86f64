"""The ingest stage: a raw log in one of the source formats -> a stored dataset version
(the canonical dataset folder) and the user's name for it.

`ingest` is what `recsys ingest` calls; `dataset_for_run` is the run's step, which records
the version it used in the manifest. Finding a version up to date re-hashes the sources
without parsing them, so an unchanged ingest is a no-op."""

from __future__ import annotations

import json
from pathlib import Path

from recsys_cli.data.filters import IngestFilters
from recsys_cli.core.errors import InputError
from recsys_cli.stages.env import StageEnv
from recsys_cli.stages.records import StageResult


def ingest(
    fmt: str,
    source: Path | None,
    out: Path,
    options: dict | None = None,
    filters: IngestFilters | None = None,
    force: bool = False,
    on_damage=None,
) -> StageResult:
    """Read `source` in format `fmt` into a stored dataset version named `out`.

    `out` must be missing, empty, a legacy dataset folder or our link (never the source).
    A stored version made from these options and unchanged sources is reused without
    parsing (the link moved back to it if need be); `force` rebuilds, and a rebuild with
    the same bytes keeps the stored version (data/dataset_store.py). The returned path is
    the version, which no later ingest changes. A stored version found damaged is moved aside
    and rebuilt; `on_damage(message)` is told so."""
    from recsys_cli.data.build import build_dataset
    from recsys_cli.data.dataset_writer import Recipe, source_digests
    from recsys_cli.data.dataset_store import check_version, known_versions, point_name, set_aside_version
    from recsys_cli.data.sources import reader

    from recsys_cli.core.atomic import DATA_STORE_DIR, check_output_folder

    options = {k: v for k, v in (options or {}).items() if v is not None}
    filters = filters or IngestFilters()
    read = reader(fmt)
    if source is not None and not Path(source).exists():
        from recsys_cli.data.download import fetch_hint

        hint = fetch_hint(Path(source))
        raise InputError("no such file or folder" + (f"; {hint}" if hint else ""), path=source)
    out = Path(out)
    sources = [source] if source is not None else []
    check_output_folder(out, "dataset.json", sources)  # before any reading
    if DATA_STORE_DIR in out.absolute().parts:
        raise InputError(f"is inside recsys's dataset store ({DATA_STORE_DIR}), whose versions are never "
                         "rewritten; give your name for the dataset instead (e.g. data/ml-1m)", path=out)
    # A JSON round trip, so options compare equal to the ones read back from dataset.json.
    recorded_options = json.loads(json.dumps(
        {"source": str(source) if source is not None else None, **options}, default=str))
    if not force:
        for version, previous in list(known_versions(out)):
            if _ingest_is_current(previous, fmt, recorded_options, filters):
                damage = check_version(version)
                if damage:
                    aside = set_aside_version(version)
                    if on_damage is not None:
                        on_damage(f"damaged: {damage[0]}; the dataset version is set aside in {aside} and rebuilt")
                    continue
                if version != out.resolve():
                    point_name(out, version)
                return StageResult(version, previous, skipped=True, name=out)
    import warnings

    from recsys_cli.core.integrity import StoreWarning

    tables = read(Path(source) if source is not None else None, **options)
    digests = source_digests(tables.files)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", StoreWarning)
        info = build_dataset(tables, out, Recipe(fmt, recorded_options, filters, digests, _ingest_weighting(filters)))
    for warning in caught:  # a damaged version told to on_damage, or warned of as anything else
        if issubclass(warning.category, StoreWarning) and on_damage is not None:
            on_damage(str(warning.message))
        else:
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    return StageResult(Path(info.pop("path")), info, skipped=False, name=out)


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
    from recsys_cli.data.dataset_writer import Recipe, source_digests

    if previous is None or previous.get("format") != fmt or previous.get("options") != options:
        return False
    files = [Path(entry["path"]) for entry in previous.get("sources", [])]
    if not all(f.is_file() for f in files):
        return False
    return Recipe(fmt, options, filters, source_digests(files)).fingerprint == previous.get("fingerprint")


def dataset_for_run(env: StageEnv) -> Path:
    """The run's dataset version: ingested (or found up to date) from the config's `dataset:`
    block, or the ready folder it names, resolved once, so the whole run reads one version
    whatever another ingest does to the name meanwhile."""
    from recsys_cli.config.blocks import IngestBlock

    from recsys_cli.data.dataset_store import register_reader

    block = env.experiment.dataset
    target = env.experiment.dataset_dir()
    if not isinstance(block, IngestBlock):
        from recsys_cli.core.errors import DamagedFile
        from recsys_cli.data.dataset import Dataset
        from recsys_cli.data.dataset_store import check_version

        dataset = Dataset.open(target)
        damage = check_version(dataset.path)
        if damage:
            raise DamagedFile(damage[0].path, f"the dataset {target}", damage[0].reason,
                              "ingest it again (`recsys ingest ... --out "
                              f"{target}` makes a new version); `recsys runs verify --all` lists what else is damaged")
        register_reader(dataset.path, env.store.identity.id, str(env.runs_dir))
        env.run.manifest["stages"]["ingest"] = {"status": "done", "fingerprint": dataset.fingerprint,
                                                "dataset": str(dataset.path), "name": str(target),
                                                "seconds": 0.0}
        env.run.save()
        return dataset.path

    def damaged(message: str) -> None:
        env.reporter.message(message)
        env.run.log(message)

    def work(entry):
        result = ingest(block.format, block.path, target, block.reader_options(),
                        block.filters(env.seeds["debug_slice"]), on_damage=damaged)
        register_reader(result.path, env.store.identity.id, str(env.runs_dir))
        entry.update(dataset=str(result.path), name=str(target), skipped=result.skipped,
                     dataset_fingerprint=result.info.get("fingerprint"))
        if result.skipped and block.path is not None:  # said aloud: a nightly log shows no new data came
            unchanged = (f"source unchanged: {block.path} has the bytes dataset version {result.path.name} "
                         "was built from; reusing it")
            env.reporter.info(unchanged)
            env.run.log(unchanged)
            entry.update(source_unchanged=True)

    return Path(env.always("ingest", work)["dataset"])
