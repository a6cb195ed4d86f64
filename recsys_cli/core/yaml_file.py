"""Reading a YAML file a user wrote, strictly: the one place experiment files are parsed.

Beyond `yaml.safe_load`: a key given twice in one mapping is refused naming both lines
(PyYAML keeps the last silently, so `seed: 42` ... `seed: 7` would run with 7), and a
document whose aliases expand beyond `MAX_EXPANDED_NODES` nodes ("billion laughs") is
refused before anything walks it. Non-UTF-8 text, a folder or a missing file are messages.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from recsys_cli.core.errors import InputError

MAX_EXPANDED_NODES = 100_000  # an experiment file has hundreds; aliases may not multiply that


class _StrictLoader(yaml.SafeLoader):
    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key: SafeLoader reports it below
                break
            if first is not None:
                raise yaml.constructor.ConstructorError(
                    None, None,
                    f"key {key!r} is given twice: on line {first + 1} and on line {key_node.start_mark.line + 1}",
                    key_node.start_mark)
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


def _expanded_size(node, limit: int) -> int:
    """Nodes the document has once aliases are expanded, counted up to `limit` (shared
    sub-trees are counted once per reference, memoised so the count itself stays cheap)."""
    sizes: dict[int, int] = {}

    def size(current) -> int:
        key = id(current)
        if key in sizes:
            return sizes[key]
        sizes[key] = 1  # a recursive alias counts once
        total = 1
        if isinstance(current, yaml.MappingNode):
            children = [part for pair in current.value for part in pair]
        elif isinstance(current, yaml.SequenceNode):
            children = current.value
        else:
            children = []
        for child in children:
            total += size(child)
            if total > limit:
                break
        sizes[key] = total
        return total

    return size(node)


def load_yaml(path: str | Path) -> Any:
    path = Path(path)
    if path.is_dir():
        raise InputError("is a folder; expected an experiment YAML file", path=path)
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise InputError("no such experiment file", path=path) from None
    except UnicodeDecodeError as error:
        line = path.read_bytes()[: error.start].count(b"\n") + 1
        raise InputError(f"line {line}: not UTF-8 text (byte {error.object[error.start]:#x}); "
                         "save the file as UTF-8", path=path) from None
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_size(node, MAX_EXPANDED_NODES) > MAX_EXPANDED_NODES:
            raise InputError(f"aliases expand the document beyond {MAX_EXPANDED_NODES:,} values; "
                             "refusing to read it (write the values out instead of nesting aliases)", path=path)
        return loader.construct_document(node)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = str(getattr(error, "problem", None) or error).splitlines()[0][:200]
        raise InputError(f"{where}not valid YAML ({problem})", path=path) from None
    finally:
        loader.dispose()
