"""Config validation, cache keys, atomic writes and notebook-parameter checks."""

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from synthrec_core.config import Config, ConfigError, check, check_choice
from synthrec_core.runner import find_notebooks, notebook_defaults, profile_parameters, validate_parameters
from synthrec_core.utils import atomic_write_json, stable_hash

REPO = Path(__file__).resolve().parents[1]


@dataclasses.dataclass(frozen=True)
class Toy(Config):
    lr: float = 1e-3
    steps: int = 10
    batch_size: int = 32  # does not change the result
    _not_in_key = ("batch_size",)

    def validate(self):
        check(self.lr > 0, f"lr={self.lr} must be > 0")
        check(self.steps >= 1, f"steps={self.steps} must be >= 1")


def test_config_validates_and_names_bad_value():
    with pytest.raises(ConfigError, match="lr=-1"):
        Toy(lr=-1)
    with pytest.raises(ConfigError, match="steps=0"):
        Toy().replace(steps=0)


def test_config_rejects_unknown_field_with_suggestion():
    with pytest.raises(ConfigError, match="Did you mean 'steps'"):
        Toy.from_dict({"stepz": 3})


def test_cache_key_ignores_batch_size_but_not_lr():
    base = Toy()
    assert base.cache_key() == Toy(batch_size=64).cache_key()
    assert base.cache_key() != Toy(lr=2e-3).cache_key()


def test_check_choice_lists_options():
    with pytest.raises(ConfigError, match="choose one of"):
        check_choice("profile", "minii", ["mini", "paper"])


def test_stable_hash_is_order_independent():
    assert stable_hash({"a": 1, "b": [1, 2]}) == stable_hash({"b": [1, 2], "a": 1})
    assert stable_hash({"a": 1}) != stable_hash({"a": 2})


def test_atomic_write_leaves_no_temp_on_failure(tmp_path):
    target = tmp_path / "x.json"
    atomic_write_json(target, {"ok": 1})
    with pytest.raises(TypeError):
        atomic_write_json(target, {"bad": object()})
    assert json.loads(target.read_text()) == {"ok": 1}  # the old content survives
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_every_notebook_has_parameters_and_profile():
    notebooks = find_notebooks()
    assert notebooks, "no notebooks found"
    for nb in notebooks:
        defaults = notebook_defaults(nb)
        assert defaults.get("profile") == "ci", f"{nb.name}: defaults must be the ci profile"
        for profile in ("mini", "paper"):
            validate_parameters(nb, profile_parameters(nb, profile))  # profile configs are valid


def test_unknown_parameter_rejected_with_suggestion():
    nb = find_notebooks(["00_datasets"])[0]
    with pytest.raises(ConfigError, match="Did you mean 'seed'"):
        validate_parameters(nb, {"sed": 1})


def test_parameter_type_checked():
    nb = find_notebooks(["00_datasets"])[0]
    with pytest.raises(ConfigError, match="max_test"):
        validate_parameters(nb, {"max_test": "many"})
    validate_parameters(nb, {"max_test": None, "seed": 3})


def test_cli_rejects_bad_parameter_before_running(tmp_results):
    out = subprocess.run(
        [sys.executable, "-m", "synthrec_core.cli", "run", "00_datasets", "--profile", "ci", "-p", "sed", "1"],
        capture_output=True, text=True, cwd=REPO, timeout=60,
    )
    assert out.returncode == 2
    assert "sed" in out.stderr and "seed" in out.stderr
    assert not (tmp_results / "build" / "executed").exists()


def test_cli_rejects_unknown_notebook():
    from synthrec_core.cli import main

    assert main(["run", "99_nope", "--profile", "ci"]) == 2
