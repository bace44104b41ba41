"""The `synthrec` command line: one-line errors for bad input, results of override runs kept apart."""

from __future__ import annotations

import json

import pytest

from synthrec_core.cli import main


def _job(tmp_path, **fields):
    values = {"classnames": ["cat"], "pipeline_id": "./no/such/pipeline", "images_per_prompt": 1, "steps": 2, **fields}
    path = tmp_path / "job.json"
    path.write_text(json.dumps(values))
    return str(path)


@pytest.mark.parametrize("fields, words", [
    ({"steps": 0}, "steps=0 must be an integer >= 1"),
    ({"stepz": 3}, "unknown GenerationJob field name(s) ['stepz']"),
    ({}, "generator folder not found: './no/such/pipeline'"),
    ({"pipeline_id": "some-org/not-cached-model"}, "is not in the local Hugging Face cache"),
    ({"pipeline_id": "minigen", "references": [["/no/such.png"]], "strength": 0.5}, "reference image '/no/such.png' does not exist"),
    ({"pipeline_id": "minigen", "references": [["/no/such.png"]], "strength": 1.5}, "strength=1.5 must be in (0, 1]"),
])
def test_generate_reports_bad_input_in_one_line(tmp_path, capsys, monkeypatch, fields, words):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["generate", "--job", _job(tmp_path, **fields), "--output-dir", str(tmp_path / "out"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("synthrec: error:") and words in err and "Traceback" not in err, err
    assert len(err.splitlines()) == 1


def test_generate_reports_a_missing_job_file(tmp_path, capsys):
    assert main(["generate", "--job", str(tmp_path / "nope.json")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_a_run_with_overrides_never_touches_the_profiles_results(tmp_results, monkeypatch):
    from synthrec_core.paths import results_dir
    from synthrec_core.runner import executed_path, override_tag

    tag = override_tag({"seed": 1})
    assert tag == "seed=1"
    monkeypatch.setenv("SYNTHREC_RUN_TAG", tag)
    assert results_dir("mini").name == "mini@seed=1"
    monkeypatch.delenv("SYNTHREC_RUN_TAG")
    assert results_dir("mini").name == "mini"
    assert executed_path("00_datasets.ipynb", "mini", tag).parent.name == "mini@seed=1"
    assert len(override_tag({"datasets": ["a" * 40, "b" * 40]})) <= 48
