"""Where the heavy path runs: `local` (this process) or `ray` (a Ray cluster); see `open_backend`."""

from __future__ import annotations


def open_backend(experiment, verbose: bool | None = None):
    """The backend an experiment's `backend:` key names, as a context manager. `verbose`
    None: Ray's logs follow `recsys --verbose` (RECSYS_VERBOSE)."""
    if experiment.backend == "ray":
        from recsys_cli.backends.ray_backend import RayBackend

        return RayBackend(experiment.ray, verbose=verbose)
    from recsys_cli.backends.local import LocalBackend

    return LocalBackend()


def backend_for_run(config: dict, name: str | None = None):
    """The backend of a finished run's recorded config (its `backend:` and `ray:` keys), or
    the one `name` asks for instead; for verbs that reopen a run folder (`recsys compare`)."""
    from types import SimpleNamespace

    from recsys_cli.config.blocks import RayBlock
    from recsys_cli.core.errors import InputError

    chosen = name or config.get("backend") or "local"
    if chosen not in ("local", "ray"):
        raise InputError(f"backend {chosen!r}: expected local or ray")
    try:
        block = RayBlock.model_validate(config.get("ray") or {})
    except ValueError as error:
        raise InputError(f"the run's config.yaml has an invalid ray: block ({error})") from None
    return open_backend(SimpleNamespace(backend=chosen, ray=block))
