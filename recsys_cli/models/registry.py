"""Model registry: a config's `type:` -> the class implementing it, imported on use.
Adding a model is one module in models/ plus one line here."""

from __future__ import annotations

import importlib

from recsys_cli.errors import InputError

MODELS = {
    "random": "recsys_cli.models.random_model:RandomModel",
    "popular": "recsys_cli.models.popular:Popular",
    "personal-popular": "recsys_cli.models.popular:PersonalPopular",
    "item-knn": "recsys_cli.models.item_knn:ItemKNN",
    "rp3beta": "recsys_cli.models.rp3beta:RP3beta",
    "als": "recsys_cli.models.als:ALS",
    "ials": "recsys_cli.models.als:IALS",
    "bpr": "recsys_cli.models.bpr:BPR",
    "lmf": "recsys_cli.models.lmf:LMF",
    "ease": "recsys_cli.models.ease:EASE",
    "slim": "recsys_cli.models.slim:SLIM",
    "pure-svd": "recsys_cli.models.pure_svd:PureSVD",
    "funk-svd": "recsys_cli.models.explicit:FunkSVD",
    "als-explicit": "recsys_cli.models.explicit:ALSExplicit",
    "warp": "recsys_cli.models.warp:WARP",
    "content": "recsys_cli.models.content:Content",
    "rerank": "recsys_cli.models.rerank:Rerank",
}


def model_class(model_type: str):
    if model_type not in MODELS:
        raise InputError(f"unknown model type {model_type!r}; expected one of {', '.join(MODELS)}")
    module, name = MODELS[model_type].split(":")
    return getattr(importlib.import_module(module), name)
