"""Model registry: a config's `type:` -> the class implementing it, imported on use.
Adding a model is one module in models/ plus one line here."""

from __future__ import annotations

import importlib

from recsys_cli.core.errors import InputError

MODELS = {
    "random": "recsys_cli.models.random_model:RandomModel",
    "popular": "recsys_cli.models.popular:Popular",
    "personal-popular": "recsys_cli.models.popular:PersonalPopular",
    "item-knn": "recsys_cli.models.item_knn:ItemKNN",
    "rp3beta": "recsys_cli.models.rp3beta:RP3beta",
    "als": "recsys_cli.models.als:ALS",
    "ials": "recsys_cli.models.als:IALS",
    "ials-rendle": "recsys_cli.models.ials_rendle:IALSRendle",
    "bpr": "recsys_cli.models.bpr:BPR",
    "lmf": "recsys_cli.models.lmf:LMF",
    "ease": "recsys_cli.models.ease:EASE",
    "dlae": "recsys_cli.models.dlae:DLAE",
    "edlae": "recsys_cli.models.edlae:EDLAE",
    "sparse-ease": "recsys_cli.models.sparse_ease:SparseEASE",
    "slim": "recsys_cli.models.slim:SLIM",
    "pure-svd": "recsys_cli.models.pure_svd:PureSVD",
    "funk-svd": "recsys_cli.models.explicit:FunkSVD",
    "als-explicit": "recsys_cli.models.explicit:ALSExplicit",
    "warp": "recsys_cli.models.warp:WARP",
    "content": "recsys_cli.models.content:Content",
    "rerank": "recsys_cli.models.rerank:Rerank",
    "blend": "recsys_cli.models.blend:Blend",
}


def model_class(model_type: str):
    if model_type not in MODELS:
        raise InputError(f"unknown model type {model_type!r}; expected one of {', '.join(MODELS)}")
    module, name = MODELS[model_type].split(":")
    return getattr(importlib.import_module(module), name)


def build_model(model_type: str, params=None, *, seed: int | None = None, threads: int = 0, items=None,
                rated: bool = False, use_weights: bool = False):
    """The one way a model is constructed (runs, tuning trials, rerank's generators, tests).

    `items` is the item metadata table, or a callable returning it (read only when the model
    uses metadata). On a `rated` dataset a model whose `input_kind` is "weights" learns from
    interactions (values binarised) unless `use_weights`; see Recommender.input_matrix.
    """
    from recsys_cli.core.seeds import DEFAULT_SEED

    cls = model_class(model_type)
    binary_input = {"binary": True, "ratings": False, "weights": rated and not use_weights}[cls.input_kind]
    model = cls(params, seed=DEFAULT_SEED if seed is None else seed, threads=threads, binary_input=binary_input)
    if model.uses_item_metadata and items is not None:  # without it, fit refuses (a loaded model has its own)
        model.set_item_metadata(items() if callable(items) else items)
    return model


def load_model(model_type: str, folder, checked: bool = False):
    """A model saved by `save(folder)`, with its parameters, seed and threads; `checked`: its
    files were just compared with their store's checksums (Recommender.load)."""
    return model_class(model_type).load(folder, checked=checked)
