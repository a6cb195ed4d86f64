"""Where the heavy path runs: `local` (this process) or `ray` (a Ray cluster); see `open_backend`."""

from __future__ import annotations


def open_backend(experiment, verbose: bool = False):
    """The backend an experiment's `backend:` key names, as a context manager."""
    if experiment.backend == "ray":
        from recsys_cli.backends.ray_backend import RayBackend

        return RayBackend(experiment.ray, verbose=verbose)
    from recsys_cli.backends.local import LocalBackend

    return LocalBackend()
