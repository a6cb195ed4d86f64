"""MkDocs hook: the reference tables of the docs, written from the code at build time so they
cannot drift from it.

A page asks for a table with a marker on its own line, `<!-- generated: NAME -->`; NAME is
a key of GENERATORS. The tables read the registries (models, source formats, generated
layouts and presets), the experiment file's pydantic blocks and the Typer app. After the
build, `check_coverage` warns (so `mkdocs build --strict` fails) when a registered model
type or metric is named on no page: a new one must be documented.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import logging
import re
import types
import typing
from pathlib import Path

log = logging.getLogger("mkdocs.hooks.generated")
ROOT = Path(__file__).resolve().parents[2]
MARKER = re.compile(r"^<!-- generated: ([a-z-]+) -->$", re.MULTILINE)
_pages: dict[str, str] = {}  # page path -> its hand-written markdown, for the coverage checks


# --- small formatting helpers --------------------------------------------------------------

def cell(value) -> str:
    """Text for a table cell: pipes escaped, newlines folded."""
    return " ".join(str(value).split()).replace("|", "\\|")


def code(value) -> str:
    return f"`{value}`" if value not in (None, "") else ""


def table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def first_paragraph(text: str | None) -> str:
    return " ".join((text or "").strip().split("\n\n")[0].split())


# --- pydantic fields (model parameters, experiment-file blocks) ---------------------------

def type_name(annotation) -> str:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Literal:
        return "one of " + ", ".join(f"`{a}`" for a in args)
    if origin in (typing.Union, types.UnionType):
        names = [type_name(a) for a in args if a is not type(None)]
        return " or ".join(names) + (" or null" if type(None) in args else "")
    if origin in (list, tuple):
        return f"list of {type_name(args[0])}" if args else "list"
    if origin is dict:
        return "mapping"
    return getattr(annotation, "__name__", str(annotation)).replace("Path", "path")


def bounds(field) -> str:
    """`>= 1, <= 4096` from a field's annotated-types constraints."""
    words = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<", "min_length": "at least", "max_length": "at most"}
    found = []
    for item in field.metadata:
        for attribute, word in words.items():
            value = getattr(item, attribute, None)
            if value is not None:
                found.append(f"{word} {value}" + (" items" if "length" in attribute else ""))
    return ", ".join(found)


def default_of(field) -> str:
    if field.is_required():
        return "required"
    if field.default_factory is not None:
        return code(field.default_factory())
    return code("null" if field.default is None else field.default)


def fields_table(model, skip: tuple[str, ...] = ()) -> str:
    rows = [[code(name), type_name(field.annotation), default_of(field), bounds(field), field.description or ""]
            for name, field in model.model_fields.items() if name not in skip]
    return table(["key", "type", "default", "allowed", "what"], rows)


# --- models --------------------------------------------------------------------------------

def space_text(entry: dict) -> str:
    if "choices" in entry:
        return "one of " + ", ".join(code(c) for c in entry["choices"])
    scale = ", log" if entry.get("log") else ""
    return f"{entry['low']} to {entry['high']}{scale}" + (" (integers)" if entry.get("type") == "int" else "")


def models() -> str:
    from recsys_cli.models.registry import MODELS, model_class

    parts = []
    for name in MODELS:
        cls = model_class(name)
        module = importlib.import_module(cls.__module__)
        source = Path(module.__file__).relative_to(ROOT).as_posix()
        what = first_paragraph(inspect.getdoc(cls) if cls.__doc__ else module.__doc__)
        can = [f"learns from: {cls.input_kind}", "similar items" if cls.has_similar_items else "no similar items"]
        can += [label for flag, label in ((cls.uses_item_metadata, "uses item metadata"),
                                          (cls.predicts_ratings, "predicts ratings (RMSE/MAE)"),
                                          (cls.iterative, "reports every iteration to the tuner's pruner"),
                                          (not cls.deterministic, "not bitwise reproducible when multithreaded"))
                if flag]
        parts.append(f"### `{name}`\n\n{what}\n\n`{cls.__module__}.{cls.__name__}` in `{source}`; "
                     + "; ".join(can) + ".\n")
        fields = cls.Params.model_fields
        if fields:
            rows = [[code(key), type_name(field.annotation), default_of(field), bounds(field),
                     space_text(cls.tune_space[key]) if key in cls.tune_space else "", field.description or ""]
                    for key, field in fields.items()]
            parts.append(table(["parameter", "type", "default", "allowed", "default tune space", "what"], rows))
        else:
            parts.append("No parameters (and so no tune space).")
    return "\n\n".join(parts)


# --- data: formats, generated layouts, presets ---------------------------------------------

def cli_group(path: list[str]):
    """The click command at `recsys <path...>`."""
    import typer

    from recsys_cli.cli.app import app

    command = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]
    return command


def params_table(command, skip: set[str] = frozenset()) -> str:
    rows = []
    for param in command.params:
        if param.name in skip or param.name == "help":
            continue
        if param.param_type_name == "argument":
            rows.append([code(param.human_readable_name), "argument", "", getattr(param, "help", "") or ""])
            continue
        names = " / ".join(code(o) for o in param.opts + param.secondary_opts)
        default = "" if param.default in (None, False, ()) or param.is_flag and not param.default else code(
            " ".join(map(str, param.default)) if isinstance(param.default, (list, tuple)) else param.default)
        kind = "flag" if param.is_flag else (param.metavar or param.type.name.upper())
        rows.append([names, kind, default, param.help or ""])
    return table(["option", "value", "default", "what"], rows)


def shared_ingest_options() -> set[str]:
    from recsys_cli.cli.ingest import SHARED_OPTIONS

    return {p.name for p in SHARED_OPTIONS}


def formats() -> str:
    from recsys_cli.data.sources import FORMATS

    group = cli_group(["ingest"])
    shared = shared_ingest_options()
    parts = []
    for name, module_name in FORMATS.items():
        spec = importlib.util.find_spec(module_name)
        doc = ast.get_docstring(ast.parse(Path(spec.origin).read_text()))
        command = group.commands[name]
        summary, _, example = first_paragraph(command.help).partition("Example:")
        parts.append(f"### `{name}`\n\n{first_paragraph(doc)} {summary.strip()}\n\n```bash\n{example.strip()}\n```\n")
        own = [p for p in command.params if p.name not in shared and p.name != "help"]
        parts.append(params_table(command, skip=shared) if own else "No options of its own.")
    return "\n\n".join(parts)


def ingest_shared() -> str:
    command = cli_group(["ingest", "synthetic"])
    keep = shared_ingest_options()
    return params_table(command, skip={p.name for p in command.params} - keep)


def ingest_filter_keys() -> str:
    from recsys_cli.config.blocks import FILTER_KEYS

    return ", ".join(code(k) for k in FILTER_KEYS)


def layouts() -> str:
    from recsys_cli.data.generators import LAYOUTS

    return table(["layout", "read by", "written to (under `--dir`)", "what"],
                 [[code(name), code(f"recsys ingest {e.format}"), code(str(Path(e.target, e.inside)) if e.inside else e.target),
                   e.what] for name, e in LAYOUTS.items()])


def presets() -> str:
    from recsys_cli.data.generators import PRESETS

    return table(["preset", "users", "items", "categories", "what"],
                 [[code(name), f"{p.users:,}", f"{p.items:,}", p.categories, p.what] for name, p in PRESETS.items()])


def downloads() -> str:
    from recsys_cli.data.download import ARCHIVES

    return table(["name", "file", "checked by", "size"],
                 [[code(name), code(a.filename), a.algorithm, f"{a.size / 1e6:.1f} MB" if a.size else ""]
                  for name, a in ARCHIVES.items()])


# --- configuration ---------------------------------------------------------------------------

def config_block(name: str):
    from recsys_cli.config import blocks

    return getattr(blocks, name)


def config_table(block: str, skip: tuple[str, ...] = ()):
    return lambda: fields_table(config_block(block), skip)


def split_strategies() -> str:
    from recsys_cli.data.split_strategies import STRATEGIES

    def bounds(param) -> str:
        words = {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}
        limits = " and ".join(f"{words[k]} {v}" for k, v in param.bounds)
        choices = " or ".join(code(c) for c in param.choices)
        return "; ".join(x for x in (limits, choices) if x)

    rows = []
    for s in STRATEGIES.values():
        what = s.description + (" Needs timestamps." if s.needs_time else "") + (
            " Takes `folds`." if s.user_folds else "")
        params = "<br>".join(f"{code(p.name)} ({p.type.__name__}, default {code(p.default)}"
                             f"{', ' + bounds(p) if bounds(p) else ''}): {p.help}" for p in s.params) or "none"
        rows.append([code(s.name), what, params])
    return table(["strategy", "what it does", "parameters"], rows)


def split_options() -> str:
    return params_table(cli_group(["split"]))


def metric_names() -> str:
    from recsys_cli.evaluation.metrics import selectable

    return ", ".join(code(m) for m in selectable())


def metric_table() -> str:
    from recsys_cli.evaluation.metrics import METRICS

    return table(["metric", "kind", "better", "takes K", "what it measures"],
                 [[code(m.name), m.kind, "higher" if m.higher_is_better else "lower", "yes" if m.needs_k else "no",
                   m.description] for m in METRICS.values()])


# --- the command line ------------------------------------------------------------------------

def commands() -> str:
    root = cli_group([])
    parts = [f"`recsys` {first_paragraph(root.help)}\n\n{params_table(root)}"]

    def walk(command, path: list[str]):
        if hasattr(command, "commands"):  # a group
            for name, sub in command.commands.items():
                walk(sub, path + [name])
            return
        context = type(root.make_context("recsys", ["--help"], resilient_parsing=True))(
            command, info_name=" ".join(["recsys", *path]))
        usage = " ".join(["recsys", *path, *command.collect_usage_pieces(context)])
        help_text = inspect.cleandoc(command.help or "")
        examples = [line.strip() for line in help_text.splitlines() if line.strip().startswith("Example")]
        prose = first_paragraph("\n".join(l for l in help_text.splitlines() if not l.strip().startswith("Example")))
        block = [f"## `recsys {' '.join(path)}`", prose, f"```\n{usage}\n```"]
        block += [f"```bash\n{e.split(':', 1)[1].strip()}\n```" for e in examples]
        block.append(params_table(command))
        parts.append("\n\n".join(block))

    walk(root, [])
    return "\n\n".join(parts)


# --- architecture ----------------------------------------------------------------------------

def floors() -> list[str]:
    """The floors of the house, lowest first, from tests/architecture/test_architecture.py (one source)."""
    spec = importlib.util.spec_from_file_location("_architecture", ROOT / "tests" / "architecture" / "test_architecture.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.FLOORS


def packages() -> str:
    """Every package and module, by floor, with the first sentence of its docstring."""
    package = ROOT / "recsys_cli"
    rows = []
    for floor in floors():
        target = package / floor
        modules = sorted(target.rglob("*.py")) if target.is_dir() else [package / f"{floor}.py"]
        for path in modules:
            if path.name == "__init__.py" and path.parent != target:
                continue
            doc = ast.get_docstring(ast.parse(path.read_text())) or ""
            sentence = re.split(r"(?<=\.)\s", first_paragraph(doc), maxsplit=1)[0]
            name = path.relative_to(package).as_posix()
            lines = len(path.read_text().splitlines())
            rows.append([code(floor), code(name), lines, sentence])
    return table(["floor", "module", "lines", "what"], rows)


GENERATORS = {
    "models": models,
    "formats": formats,
    "ingest-shared": ingest_shared,
    "ingest-filter-keys": ingest_filter_keys,
    "layouts": layouts,
    "presets": presets,
    "downloads": downloads,
    "experiment": config_table("Experiment"),
    "dataset-block": config_table("IngestBlock"),
    "split-block": config_table("SplitBlock"),
    "model-entry": config_table("ModelEntry"),
    "tune-block": config_table("TuneBlock"),
    "metrics-block": config_table("MetricsBlock"),
    "export-block": config_table("ExportBlock"),
    "compare-block": config_table("CompareBlock"),
    "ray-block": config_table("RayBlock"),
    "tracking-block": config_table("TrackingBlock"),
    "split-strategies": split_strategies,
    "split-options": split_options,
    "metric-names": metric_names,
    "metric-table": metric_table,
    "commands": commands,
    "packages": packages,
}


def on_page_markdown(markdown: str, page, **kwargs) -> str:
    def expand(match: re.Match) -> str:
        name = match.group(1)
        if name not in GENERATORS:
            raise KeyError(f"{page.file.src_path}: no generated table {name!r}; known: {', '.join(GENERATORS)}")
        return GENERATORS[name]()

    _pages[page.file.src_path] = markdown
    return MARKER.sub(expand, markdown)


def on_post_build(config, **kwargs) -> None:
    check_coverage(_pages)


def check_coverage(pages: dict[str, str]) -> None:
    """Warn about a registered model type that no page describes in words (the generated
    reference does not count), or a metric that metrics.md does not define."""
    from recsys_cli.evaluation.metrics import METRICS
    from recsys_cli.models.registry import MODELS

    hand_written = "\n".join(pages.values())
    for name in MODELS:
        if f"`{name}`" not in hand_written:
            log.warning(f"model type {name!r} is in models/registry.py but no page describes it (models.md's table)")
    for name in METRICS:
        if not re.search(rf"`{re.escape(name)}(@K)?`", pages.get("metrics.md", "")):
            log.warning(f"metric {name!r} is in evaluation/metrics.py but metrics.md does not define it")
