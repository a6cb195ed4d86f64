"""Tonight against a baseline run: the difference of a model's metric with its 95% interval.

Where both runs scored the same test users (the same user ids), the comparison is paired:
the mean of the per-user differences, with a t-interval (the users are the units; an
unchanged model gives exactly 0). Where the users differ (new data, a new split), it is
unpaired: the difference of the two means with a percentile-bootstrap interval that resamples
each run's users independently. The record says which was used.

A threshold that is affine in the baseline, `scale * baseline + offset` (config/gate.py), is
tested the same way on `tonight - scale * baseline - offset`.
"""

from __future__ import annotations

import numpy as np

from recsys_cli.evaluation.statistics import t_interval

RESAMPLES = 2000


def compare_to_baseline(tonight: dict[str, np.ndarray], baseline: dict[str, np.ndarray], scale: float = 1.0,
                        offset: float = 0.0, same_test: bool = True, seed: int = 0) -> dict:
    """`tonight`/`baseline`: {"user_id": ids, "values": per-user values}. Returns the
    difference `mean(tonight) - scale * mean(baseline) - offset`, its 95% interval, and
    whether it was paired: `same_test` (both runs held out the same pairs: the same split)
    and the same user ids in both."""
    ids_now, ids_then = np.asarray(tonight["user_id"]).astype(str), np.asarray(baseline["user_id"]).astype(str)
    now, then = np.asarray(tonight["values"], dtype=np.float64), np.asarray(baseline["values"], dtype=np.float64)
    paired = same_test and len(ids_now) == len(ids_then) and np.array_equal(np.sort(ids_now), np.sort(ids_then))
    if paired:
        order_now, order_then = np.argsort(ids_now, kind="stable"), np.argsort(ids_then, kind="stable")
        differences = now[order_now] - scale * then[order_then] - offset
        low, high = t_interval(differences)
        difference = float(differences.mean())
        how = "paired: the same test pairs, mean per-user difference, t-interval"
    else:
        from recsys_cli.evaluation.statistics import bootstrap_means

        rng = np.random.default_rng(seed)
        boot = bootstrap_means(now, RESAMPLES, rng) - scale * bootstrap_means(then, RESAMPLES, rng) - offset
        low, high = (float(np.percentile(boot, 2.5)), float(np.percentile(boot, 97.5)))
        difference = float(now.mean() - scale * then.mean() - offset)
        how = "unpaired: other test pairs (another split), difference of means, bootstrap interval"
    return {"tonight": float(now.mean()), "baseline": float(then.mean()), "difference": difference,
            "ci95": [low, high], "paired": bool(paired), "how": how,
            "users": [int(len(now)), int(len(then))]}
