"""Every verb's --help works and costs no heavy import: the CLI imports numpy, scipy, polars,
implicit, matplotlib, optuna... only inside the commands that use them (issue 28)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("numpy", "scipy", "polars", "implicit", "matplotlib", "optuna", "numba", "sklearn", "ray", "yaml",
         "pydantic", "jinja2")

SCRIPT = f"""
import contextlib, io, json, sys
import typer.main
from recsys_cli.cli.app import app, main
commands = typer.main.get_command(app).commands
verbs = [[name] for name, command in commands.items() if not getattr(command, "commands", None)]
verbs += [[name, sub] for name, command in commands.items() for sub in (getattr(command, "commands", None) or {{}})]
codes = {{}}
for verb in verbs:
    with contextlib.redirect_stdout(io.StringIO()) as out:
        codes[" ".join(verb)] = (main([*verb, "--help"]), "Usage" in out.getvalue())
print(json.dumps({{"codes": codes, "heavy": [m for m in {HEAVY!r} if m in sys.modules]}}))
"""


def test_every_verbs_help_works_without_heavy_imports():
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, cwd=ROOT, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(result["codes"]) >= 20 and "recommend" in result["codes"] and "runs list" in result["codes"]
    assert {verb: code for verb, code in result["codes"].items() if code != [0, True]} == {}
    assert result["heavy"] == []


def test_the_program_returns_mains_exit_code_with_its_objects_frozen_for_a_quick_exit():
    code = ("import gc, sys\nsys.argv = ['recsys', 'recommend', 'no-such-run', '--user', '1']\n"
            "from recsys_cli.cli.app import entry\ncode = entry()\nprint(code, gc.get_freeze_count() > 0)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip().splitlines()[-1] == "2 True"
