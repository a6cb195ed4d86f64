"""Fair tuning: every model with parameters has a default space, iALS's reaches the
literature's optima, and the pruner waits before judging slow-converging trials."""

import numpy as np
import pytest
import scipy.sparse as sp

from recsys_cli.config.load import parse_experiment
from recsys_cli.core.errors import InputError
from recsys_cli.models.registry import MODELS, model_class
from recsys_cli.tuning.study import _pruner, space_for, warmup_iterations


@pytest.mark.parametrize("model_type", list(MODELS))
def test_tune_true_gives_every_model_with_parameters_a_default_space(model_type):
    cls = model_class(model_type)
    config = {"name": "t", "dataset": "data/x", "split": {"strategy": "leave-one-random"},
              "models": [{"name": "m", "type": model_type, "tune": True}]}
    if not cls.Params.model_fields:
        with pytest.raises(InputError, match=f"{model_type} has no parameters to tune"):
            parse_experiment(config, "x.yaml")
        return
    parse_experiment(config, "x.yaml")  # every default range is valid for the model
    assert space_for(model_type, None)


def test_ials_space_reaches_the_literature_optima():
    space = space_for("ials", None)
    assert space["regularization"].high >= 1e3 and space["regularization"].log
    assert space["iterations"].high >= 50
    assert space["alpha"].low <= 0.01
    assert space["factors"].high >= 512
    assert {"similarity", "neighbors", "shrink"} <= set(space_for("item-knn", None))
    assert {"alpha", "beta", "neighbors"} <= set(space_for("rp3beta", None))


def test_warmup_scales_with_the_longest_trial():
    assert warmup_iterations(5, 50) == 12
    assert warmup_iterations(5, 15) == 10
    assert warmup_iterations(20, 50) == 20


def test_median_pruner_waits_for_the_warmup_and_compares_equal_iteration_counts():
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", pruner=_pruner("median", 5, 50))
    for _ in range(8):
        trial = study.ask()
        for step in range(5, 50, 5):
            trial.report(1.0, step)
        study.tell(trial, 1.0)
    slow = study.ask()
    slow.report(0.0, 10)
    assert not slow.should_prune()  # still warming up at 10 of 50 iterations
    slow.report(0.0, 15)
    assert slow.should_prune()


def test_shrunk_cosine_by_hand():
    # items 0 and 1 share one user of weight 1; norms sqrt(2) and 1: cosine 1/sqrt(2)
    train = sp.csr_matrix(np.array([[1, 1, 0], [1, 0, 1]], dtype=np.float32))
    plain = model_class("item-knn")({"similarity": "cosine"}).fit(train).similarity
    shrunk = model_class("item-knn")({"similarity": "cosine", "shrink": 10.0}).fit(train).similarity
    assert plain[0, 1] == pytest.approx(1 / np.sqrt(2), rel=1e-5)
    assert shrunk[0, 1] == pytest.approx(1 / (np.sqrt(2) + 10), rel=1e-5)
    jaccard = model_class("item-knn")({"similarity": "jaccard", "shrink": 1.0}).fit(train).similarity
    assert jaccard[0, 1] == pytest.approx(1 / (2 + 1))
