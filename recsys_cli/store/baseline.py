"""The links beside `latest` in an experiment folder that the gate reads and writes:

- `passed`: the last run whose gate passed — what a nightly job should serve
  (`recsys recommend runs/NAME/passed ...`); it only moves when a gate passes.
- `pinned`: a run the user chose as the baseline (`recsys runs pin RUN`); while it exists the
  gate compares against it instead of `passed`.

Both are relative symlinks swapped atomically, like `latest`, so a reader never sees one
missing; `recsys runs prune` keeps the runs they point to.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from recsys_cli.core.errors import InputError

PASSED, PINNED = "passed", "pinned"


def point(experiment_dir: Path, name: str, run: Path) -> None:
    """Make `experiment_dir/name` a relative link to the run folder `run` (atomically)."""
    run = Path(run)
    if run.resolve().parent != Path(experiment_dir).resolve():
        raise InputError(f"is not a run of the experiment {Path(experiment_dir).name!r}; "
                         f"a {name} link points inside its own experiment folder", path=run)
    tmp = Path(experiment_dir) / f".{name}-{os.getpid()}"
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    tmp.symlink_to(run.name)
    os.replace(tmp, Path(experiment_dir) / name)


def unpoint(experiment_dir: Path, name: str) -> bool:
    """Remove the `name` link if there is one; True if there was."""
    link = Path(experiment_dir) / name
    if not link.is_symlink():
        return False
    link.unlink()
    return True


def linked_run(experiment_dir: Path, name: str) -> Path | None:
    """The run folder `experiment_dir/name` points to, if it points to one."""
    link = Path(experiment_dir) / name
    target = link.resolve() if link.is_symlink() else None
    return target if target is not None and (target / "manifest.json").is_file() else None


def find_baseline(experiment_dir: Path, exclude: Path | None = None,
                  or_latest: bool = False) -> tuple[Path | None, str | None]:
    """(run folder, how it was chosen): the pinned run, else the last run that passed its
    gate, else (with `or_latest`: an experiment without a gate) the last complete run;
    never `exclude` (tonight's own run)."""
    for name in (PINNED, PASSED) + (("latest",) if or_latest else ()):
        run = linked_run(experiment_dir, name)
        if run is not None and (exclude is None or run != Path(exclude).resolve()):
            return run, name
    return None, None
