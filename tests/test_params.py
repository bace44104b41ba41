"""Notebook parameters are checked against one declared schema, under plain papermill and `synthrec run`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from synthrec_core.params import ParameterError, check_namespace, check_values, schema

REPO = Path(__file__).resolve().parents[1]


def test_every_notebook_declares_every_parameter_in_its_schema():
    from synthrec_core.runner import find_notebooks, notebook_defaults

    for nb in find_notebooks():
        rules = schema(nb.stem)
        assert rules, f"{nb.name} has no configs/schema/{nb.stem}.yaml"
        defaults = notebook_defaults(nb)
        assert set(defaults) == set(rules), f"{nb.name}: parameters {sorted(defaults)} vs schema {sorted(rules)}"
        check_values(nb.stem, defaults)  # the defaults themselves are valid


@pytest.mark.parametrize("values, words", [
    ({"datasetz": ["mnist"]}, "unknown parameter(s) ['datasetz']"),
    ({"per_class": 0}, "per_class=0 must be >= 1"),
    ({"max_test": -5}, "max_test=-5 must be >= 1"),
    ({"datasets": "mnist"}, "has type str, expected list"),
    ({"seed": 1.5}, "has type float, expected int"),
    ({"profile": "mimi"}, "did you mean 'mini'"),
])
def test_bad_values_are_one_line_errors(values, words):
    with pytest.raises(ParameterError) as e:
        check_values("00_datasets", values)
    assert words in str(e.value) and "\n" not in str(e.value)


def test_the_namespace_check_catches_names_papermill_injected():
    ns = {"profile": "ci", "datasets": ["mnist"], "seed": 0, "max_test": 10, "per_class": 2, "In": [], "_": None,
          "np": __import__("numpy"), "datasetz": ["x"]}
    with pytest.raises(ParameterError, match="datasetz"):
        check_namespace("00_datasets", ns)
    del ns["datasetz"]
    check_namespace("00_datasets", ns)
    assert ParameterError("x")._render_traceback_() == ["ParameterError: x"]


def test_synthrec_run_checks_ranges_before_starting_a_kernel(tmp_results):
    from synthrec_core.cli import main

    assert main(["run", "00_datasets", "--profile", "ci", "-p", "per_class", "0"]) == 2
    assert main(["run", "00_datasets", "--profile", "ci", "-p", "datasets", "mnist"]) == 2


@pytest.mark.notebook
def test_plain_papermill_stops_at_the_first_cell_with_one_line(tmp_path):
    """papermill itself only warns about an unknown name; the notebook's own check stops it."""
    out = tmp_path / "out.ipynb"
    cmd = [sys.executable, "-m", "papermill", str(REPO / "notebooks" / "00_datasets.ipynb"), str(out), "-k", "synthrec",
           "-p", "datasetz", "[mnist]", "--cwd", str(REPO / "notebooks")]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode != 0
    assert "ParameterError: 00_datasets: unknown parameter(s) ['datasetz']" in r.stderr
    import nbformat

    nb = nbformat.read(out, as_version=4)
    ran = [c for c in nb.cells if c.cell_type == "code" and c.get("execution_count")]
    assert len(ran) <= 3  # parameters, injected parameters, the check: no work started
