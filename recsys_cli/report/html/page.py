"""`report.html`: one self-contained page per run folder (no network, printable).

The page is a Jinja2 template (templates/report.html.j2) filled from plain dicts built
here, one function per section; each returns None when the run holds nothing for it and
the template then says why instead of drawing an empty box. Charts are inline SVG
(charts.py); the only script is the table sorter inlined in the template.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from recsys_cli.evaluation.metrics import best_of
from recsys_cli.report.html import charts
from recsys_cli.report.html.chart_cache import ChartCache
from recsys_cli.models.base import item_popularity
from recsys_cli.report.html.collect import RunData, distinct_results, item_labels, read_run, summary_value
from recsys_cli.report.html.examples_view import examples_section
from recsys_cli.report.html.repeats_view import repeats_section, summary_section
from recsys_cli.report.html.text import duration, filter_seen_text, human_bytes, unreachable
from recsys_cli.report.tuning import chosen_label, selection_text, stop_text, time_text

STRATA_ORDER = ("top", "head", "torso", "tail")


def write_html_report(run_dir: Path, split=None) -> Path:
    """Render RUN_DIR/report.html from what the run folder holds; returns its path. `split`:
    the run's own SplitData, whose parts are then taken from memory, not read again."""
    from dataclasses import replace

    from recsys_cli.core.atomic import write_text

    data = replace(read_run(run_dir), split=split)
    html = render(data)
    return write_text(data.path / "report.html", html)


def render(data: RunData) -> str:
    from jinja2 import Environment, PackageLoader, select_autoescape

    page = _Page(data)
    context = {
        "header": page.header(),
        "summary": summary_section(data),
        "metrics": page.metrics(),
        "repeats": repeats_section(data.repeats),
        "tuning": page.tuning(),
        "compare": page.compare(),
        "examples": page.examples(),
        "models": page.models(),
        "history": page.history(),
        "generated_by": f"recsys_cli {data.manifest.get('environment', {}).get('recsys_cli', '')}".strip(),
    }
    environment = Environment(loader=PackageLoader("recsys_cli.report.html", "templates"),
                              autoescape=select_autoescape(["html", "j2"]), trim_blocks=True, lstrip_blocks=True)
    environment.filters["thousands"] = lambda n: "—" if n is None else f"{n:,}"
    return environment.get_template("report.html.j2").render(**context)


SIGNIFICANCE_TESTS = {"permutation": "paired sign-flip permutation test of the mean difference",
                      "t": "paired t-test", "wilcoxon": "paired Wilcoxon signed-rank test"}


class _Page:
    """Builds each section's values; owns the chart counter and the colour of each model."""

    def __init__(self, data: RunData):
        self.data = data
        self.colors = charts.model_colors(list(dict.fromkeys([*data.metrics, *data.models])))
        self._charts = 0
        self._cache = ChartCache.for_run(data.path)
        self._train = None
        self._labels = None

    def chart(self, draw, *args, cached: bool = True) -> str:
        """The SVG markup of `draw(*args)` (a function of charts.py), drawn or cached."""
        from markupsafe import Markup

        self._charts += 1
        cache = self._cache if cached else ChartCache(None)
        return Markup(cache.svg(f"chart{self._charts}", draw, *args))

    # -- shared reads ---------------------------------------------------------------------
    def train(self):
        if self._train is None:
            self._train = self.data.split_part("train")
        return self._train

    def labels(self) -> pl.DataFrame | None:
        if self._labels is None:
            self._labels = item_labels(self.data.items())
        return self._labels

    # -- header ---------------------------------------------------------------------------
    def header(self) -> dict:
        data, manifest = self.data, self.data.manifest
        env = manifest.get("environment", {})
        counts = (data.dataset_info or {}).get("counts", {})
        dataset = None
        if counts:
            users, items, interactions = counts.get("users"), counts.get("items"), counts.get("interactions")
            density = interactions / (users * items) if users and items and interactions is not None else None
            ingest = manifest.get("stages", {}).get("ingest") or {}
            dataset = {"name": Path(ingest.get("name") or data.dataset_info.get("name") or data.dataset_dir).name,
                       "path": str(data.dataset_dir), "format": data.dataset_info.get("format"),
                       "n_users": users, "n_items": items, "n_interactions": interactions,
                       "density": density, "weight_kind": data.dataset_info.get("weight_kind")}
        return {
            "name": manifest.get("name"), "run_id": manifest.get("run_id"), "status": manifest.get("status"),
            "started_at": manifest.get("started_at"), "finished_at": manifest.get("finished_at"),
            "duration": duration(manifest), "seed": manifest.get("seed"), "threads": manifest.get("threads"),
            "versions": {"recsys_cli": env.get("recsys_cli"), "python": env.get("python"), **env.get("packages", {})},
            "platform": env.get("platform"), "cpus": env.get("cpus"),
            "dataset": dataset, "dataset_missing": None if dataset else unreachable(data.dataset_dir, "dataset folder"),
            "split": self._split(), "config_text": data.config_text,
            "stages": [{"name": name, "status": entry.get("status"), "seconds": entry.get("seconds"),
                        "reused_from": entry.get("reused_from")} for name, entry in manifest.get("stages", {}).items()],
        }

    def _split(self) -> dict | None:
        info, protocol = self.data.split_info, self.data.protocol
        if info is None and not protocol:
            return None
        source = info or protocol.get("split", {})
        parts = [{"name": name, "users": part.get("users"), "interactions": part.get("interactions")}
                 for name, part in (info or {}).get("parts", {}).items()]
        users = _warm_cold(protocol)
        params = {k: v for k, v in source.get("params", {}).items() if v is not None}
        if "folds" not in params:
            params.pop("fold", None)  # fold 0 of no folds: the plain split
        return {"strategy": source.get("strategy"), "params": params, "seed": source.get("seed"),
                "parts": parts, "test_users": protocol.get("test_users"), "user_counts": users,
                "k": protocol.get("k"), "ranking": protocol.get("ranking"),
                "filter_seen": filter_seen_text(protocol.get("filter_seen")), "fold_in": protocol.get("fold_in")}

    # -- metrics --------------------------------------------------------------------------
    def metrics(self) -> dict | None:
        data = self.data
        if not data.metrics:
            return None
        models = list(data.metrics)
        columns = list(dict.fromkeys(c for values in data.metrics.values() for c in values))
        groups: dict[str, list[str]] = {}
        for column in columns:
            groups.setdefault(f"@{column.split('@')[1]}" if "@" in column else "rating prediction", []).append(column)
        tables = [{"title": title, "columns": cols, "rows": self._metric_rows(models, cols)} for title, cols in groups.items()]
        headline_k = max((int(c.split("@")[1]) for c in columns if "@" in c), default=None)
        charted = [c for c in columns if c.endswith(f"@{headline_k}")] if headline_k else columns
        chart = self.chart(charts.metric_panels, models, charted, data.metrics, data.intervals, self.colors)
        return {"tables": tables, "chart": chart, "chart_k": headline_k, "significance": self.significance(),
                "significant_marking": data.significantly_best is not None,
                "test_users": data.protocol.get("test_users")}

    def _metric_rows(self, models: list[str], columns: list[str]) -> list[dict]:
        data = self.data
        best = {}
        for column in columns:
            values = {m: data.metrics[m].get(column) for m in models if data.metrics[m].get(column) is not None}
            if data.significantly_best is not None:  # marked only where significantly best
                winner = data.significantly_best.get(column)
                if winner in values:
                    best[column] = values[winner]
            elif values:
                best[column] = values[best_of(values, column)]
        rows = []
        for model in models:
            cells = []
            for column in columns:
                value = data.metrics[model].get(column)
                interval = data.intervals.get(model, {}).get(column)
                finite = interval is not None and all(v is not None and np.isfinite(v) for v in interval)
                cells.append({"value": value, "text": "—" if value is None else f"{value:.4f}",
                              "interval": f"{interval[0]:.4f}–{interval[1]:.4f}" if finite else "",
                              "best": value is not None and value == best.get(column)})
            rows.append({"model": model, "color": self.colors.get(model), "cells": cells})
        return rows

    def significance(self) -> dict | None:
        rows = (self.data.compare or {}).get("significance") or []
        if not rows:
            return None
        models = list(dict.fromkeys(m for r in rows for m in (r["model_a"], r["model_b"])))
        cells = {}
        for r in rows:
            verdict = str(r.get("verdict", ""))
            better = verdict.removesuffix(" better") if verdict.endswith(" better") else None
            detail = (f"{r['model_a']} − {r['model_b']} = {r.get('difference', float('nan')):+.4f}"
                      f" (CI {r.get('ci_low', float('nan')):+.4f} … {r.get('ci_high', float('nan')):+.4f}),"
                      f" Holm p = {r.get('p_holm', float('nan')):.3g}: {verdict}")
            for row_model, col_model in ((r["model_a"], r["model_b"]), (r["model_b"], r["model_a"])):
                if better is None:
                    kind, mark = ("unclear", "?") if verdict.startswith("unclear") else ("same", "≈")
                else:
                    kind, mark = ("win", "▲") if better == row_model else ("loss", "▼")
                cells[(row_model, col_model)] = {"kind": kind, "mark": mark, "detail": detail}
        matrix = [{"model": a, "cells": [cells.get((a, b)) for b in models]} for a in models]
        test = rows[0].get("test", "wilcoxon")
        level = rows[0].get("ci_level")
        return {"metric": rows[0].get("metric"), "models": models, "matrix": matrix, "pairs": len(rows),
                "test_name": SIGNIFICANCE_TESTS.get(test, test),
                "ci_level": f"{level:.2%}" if isinstance(level, float) else "95%"}

    # -- tuning ---------------------------------------------------------------------------
    def tuning(self) -> list[dict]:
        out = []
        for tune in self.data.tuning:
            record, trials = tune.record, tune.trials
            metric = record.get("metric")
            test_best = self.data.metrics.get(tune.model, {}).get(metric)
            default_test = self.data.tuning_summary.get(tune.model, {}).get("default_test", record.get("default_test"))
            out.append({
                "model": tune.model, "metric": metric,
                "default_validation": record.get("default_value"), "best_validation": record.get("best_value"),
                "default_test": default_test, "best_test": test_best,
                "test_worse": default_test is not None and test_best is not None and test_best < default_test,
                "best_params": {k: summary_value(v) for k, v in (record.get("best_params") or {}).items()},
                "complete": record.get("complete"), "pruned": record.get("pruned"), "failed": record.get("failed"),
                "seconds": record.get("seconds"), "saved": record.get("seconds_saved_by_pruning"),
                "trained": chosen_label(record), "selection": selection_text(record), "stopped": stop_text(record),
                "time": time_text(record),
                "history": self.chart(charts.tuning_history, trials, metric, tune.model),
                "importances": self.chart(charts.importance_bars,
                    tune.importances, f"{tune.model}: parameter importances (fANOVA)") if tune.importances else None,
                "importances_note": tune.importances_note,
                "slices": self.chart(charts.slices, trials, tune.space, metric, tune.model)
                if any(f"params_{n}" in trials.columns for n in tune.space) else None,
            })
        return out

    # -- compare --------------------------------------------------------------------------
    def compare(self) -> dict | None:
        result = self.data.compare
        similar = self._similar_exports()
        if result is None and not similar:
            return None
        out: dict[str, Any] = {"ran": result is not None, "k": (result or {}).get("k")}
        if result is not None:
            self._agreement(result, out)
        if similar:
            k = int(max(frame["rank"].max() for frame in similar.values()))
            scores = {m: f["score"].to_numpy()[np.isfinite(f["score"].to_numpy())] for m, f in similar.items()}
            out["distributions"] = self.chart(charts.similarity_small_multiples, scores, self.colors, k)
            out["export_k"] = k
            popularity = self._similar_popularity(similar)
            if popularity is not None:
                out["popularity"] = self.chart(charts.similar_popularity, *popularity, self.colors, k)
                out["popularity_means"] = [{"model": m, "mean": float(v.mean()), "median": float(np.median(v))}
                                           for m, v in popularity[0].items()]
                out["catalogue_mean"] = float(popularity[1].mean())
        return out

    def _agreement(self, result: dict, out: dict) -> None:
        k = result.get("k")
        per_anchor = self.data.path / "compare" / "similar_agreement.parquet"
        counts, anchors = {}, None
        if per_anchor.is_file():
            frame = pl.read_parquet(per_anchor, columns=["item_idx", "stratum"]).unique()
            anchors = frame.height
            counts = dict(frame.group_by("stratum").len().iter_rows())
        if result.get("similar_agreement"):
            names = _pair_models(result["similar_agreement"], result.get("models"))
            where = f" over {anchors:,} anchor items" if anchors else ""
            out["anchors"] = anchors
            out["similar_overlap"] = self.chart(charts.triangle_heatmap,
                names, result["similar_agreement"], "overlap", f"similar items: overlap@{k}{where}")
            out["similar_rbo"] = self.chart(charts.triangle_heatmap,
                names, result["similar_agreement"], "rbo", f"similar items: RBO (p=0.9){where}")
            by_stratum = result.get("similar_agreement_by_stratum") or []
            strata = [s for s in STRATA_ORDER if any(r["stratum"] == s for r in by_stratum)]
            if strata:
                out["strata"] = self.chart(charts.stratum_heatmaps, names, by_stratum, strata, "overlap", counts)
        if result.get("recommendation_agreement"):
            names = _pair_models(result["recommendation_agreement"], result.get("models"))
            users = self.data.protocol.get("test_users")
            where = f" over {users:,} test users" if users else ""
            out["recommendation_overlap"] = self.chart(charts.triangle_heatmap,
                names, result["recommendation_agreement"], "overlap", f"recommendations: overlap@{k}{where}")
        if result.get("side_by_side"):
            out["side_by_side"] = _side_by_side(result["side_by_side"])

    def _similar_exports(self) -> dict[str, pl.DataFrame]:
        folder = self.data.path / "similar"
        return {m: pl.read_parquet(folder / f"{m}.parquet") for m in self.data.models if (folder / f"{m}.parquet").is_file()}

    def _similar_popularity(self, similar: dict[str, pl.DataFrame]):
        train, labels = self.train(), self.labels()
        if train is None or labels is None:
            return None
        popularity = item_popularity(train)
        index = labels.select("item_id", "item_idx")
        values = {}
        for model, frame in similar.items():
            joined = frame.select(pl.col("similar_item_id").cast(pl.String).alias("item_id")).join(index, on="item_id")
            values[model] = popularity[joined["item_idx"].to_numpy()]
        return values, popularity

    # -- examples -------------------------------------------------------------------------
    def examples(self) -> dict | None:
        similar = self._similar_exports()
        labels = self.labels()
        show_similar = similar and not (self.data.compare or {}).get("side_by_side")  # else compare lists them
        return examples_section(self.data, similar if show_similar else {}, labels, self.train())

    # -- models ---------------------------------------------------------------------------
    def models(self) -> dict | None:
        data = self.data
        rows, importances = [], []
        for model in data.models:
            train = data.stage(f"train/{model}")
            evaluate = data.stage(f"evaluate/{model}")
            state = data.path / "models" / model / "state.npz"
            memory = train.get("peak_memory_bytes")
            rows.append({
                "model": model, "color": self.colors.get(model), "type": train.get("type"),
                "train_seconds": train.get("seconds"), "reused_from": train.get("reused_from"),
                "evaluate_seconds": evaluate.get("seconds"), "deterministic": train.get("deterministic"),
                "size": human_bytes(state.stat().st_size) if state.is_file() else None,
                "memory": human_bytes(memory) if memory else None,
                "params": shown_params(train.get("type"), train.get("params") or {}),
            })
            if train.get("feature_importances"):
                importances.append(self.chart(charts.importance_bars,
                    train["feature_importances"], f"{model}: reranker feature importances (share of gain)"))
        if not rows:
            return None
        return {"rows": rows, "importances": importances, "has_memory": any(r["memory"] for r in rows)}

    # -- history --------------------------------------------------------------------------
    def history(self) -> dict:
        data, metric = self.data, self.data.headline_metric
        rows = [r for r in data.history if metric and any(metric in m for m in r["models"].values())]
        out = {"experiment": data.manifest.get("name"), "metric": metric, "runs": len(rows)}
        if len(rows) >= 2:
            points = distinct_results(rows)
            # A re-run that changed nothing adds no point, so its page reuses the cached chart.
            out["chart"] = self.chart(charts.run_history, points, metric, self.colors) if len(points) >= 2 else None
            out["repeated"] = len(rows) - len(points)
            out["table"] = [{"run_id": r["run_id"], "started_at": r["started_at"], "status": r["status"],
                             "current": r["current"], "best": _best_of(r["models"], metric)} for r in rows[::-1]]
        return out


def _warm_cold(protocol: dict) -> dict[str, int]:
    """Warm/cold test-user counts as the evaluation recorded them in metrics.json's protocol
    (`cold_test_users: 12` or `test_users_by_kind: {warm: 80, cold: 12}` alike)."""
    found = {}
    for key, value in protocol.items():
        nested = value.items() if isinstance(value, dict) else [("", value)]
        for inner, count in nested:
            label = f"{key} {inner}".strip()
            if re.search(r"warm|cold", label) and isinstance(count, (int, float)) and not isinstance(count, bool):
                found[label.replace("_", " ")] = count
    return found


def _pair_models(pairs: list[dict], order: list[str] | None) -> list[str]:
    present = {m for r in pairs for m in (r["model_a"], r["model_b"])}
    return [m for m in (order or []) if m in present] or sorted(present)


def _side_by_side(rows: list[dict]) -> list[dict]:
    models = [c for c in rows[0] if c not in ("anchor", "rank")]
    tables = []
    for anchor in dict.fromkeys(r["anchor"] for r in rows):
        tables.append({"anchor": anchor, "models": models,
                       "rows": [[str(r[m]) for m in models] for r in rows if r["anchor"] == anchor]})
    return tables


def _best_of(models: dict, metric: str) -> str:
    scored = {m: v[metric] for m, v in models.items() if v.get(metric) is not None}
    if not scored:
        return "—"
    model = max(scored, key=scored.get)
    return f"{model} {scored[model]:.4f}"


def shown_params(model_type: str | None, params: dict) -> dict[str, str]:
    """A model's parameters as the report shows them: set ones, without those its other
    values make unused (models/base.py `unused_params`)."""
    from recsys_cli.models.registry import MODELS, model_class

    unused = model_class(model_type).unused_params(params) if model_type in MODELS else set()
    return {k: summary_value(v) for k, v in params.items() if v is not None and k not in unused}
