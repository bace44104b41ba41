"""Model cards are generated from data: the committed cards are exactly what
``scripts/write_model_cards.py`` renders from the recipes, loss logs, weights and results JSON,
and no card (nor the shipped checkpoint's JSON) carries a machine path."""

from __future__ import annotations

import json
import re

import pytest

MACHINE_PATHS = re.compile(r"(/tmp/|/work/|/home/|/root/|\.cache/|[A-Za-z]:\\\\)")


@pytest.fixture(scope="module")
def cards():
    from synthrec_core.mini.shipped_cards import shipped_model_cards

    return shipped_model_cards()


def test_committed_cards_are_the_generated_ones(cards):
    assert {p.parent.name for p in cards} == {"miniclip", "minigen"}
    for path, text in cards.items():
        assert path.read_text() == text, f"{path} differs from its data: run scripts/write_model_cards.py"


def test_cards_carry_no_machine_paths(cards):
    from synthrec_core.mini.train import SHIPPED_MINIGEN_CHECKPOINT

    for path, text in cards.items():
        assert not MACHINE_PATHS.search(text), (path, MACHINE_PATHS.search(text).group(0))
    meta = (SHIPPED_MINIGEN_CHECKPOINT / "checkpoint.json").read_text()
    assert not MACHINE_PATHS.search(meta)


def test_the_minigen_card_lists_the_chain_and_its_logged_numbers(cards):
    from synthrec_core.mini.shipped_cards import WEIGHTS_DIR
    from synthrec_core.mini.train import minigen_chain, read_loss

    text = cards[WEIGHTS_DIR / "minigen" / "README.md"]
    for stage in minigen_chain("shipped"):
        assert f"### `{stage.name}`" in text
        if stage.recorded.get("loss_log"):
            rows = read_loss(WEIGHTS_DIR / "minigen" / stage.recorded["loss_log"])
            assert f"steps run: {len(rows)}; wall time {rows[-1]['seconds'] / 60:.1f} min" in text
    assert "not the same weights" in text


def test_card_tables_come_from_the_results_json(tmp_path):
    from synthrec_core.mini.train_cards import CardResult, CardStage, render_model_card

    res = tmp_path / "r.json"
    res.write_text(json.dumps({"acc": {"mnist": 0.91234, "digits": 0.5}, "gain": {"mnist": {"mean": 0.02, "std": 0.01}},
                               "run": {"a": {"loss": 0.1, "path": "/tmp/x"}}}))
    log = tmp_path / "loss.csv"
    log.write_text("step,loss,lr,seconds\n0,1.0,1e-3,60.0\n1,0.5,1e-3,120.0\n")
    text = render_model_card("T", "Prose.", [CardStage("s", {"steps": 2, "out_dir": "/tmp/run", "threads": 2}, log)],
                             [CardResult("R", res, "a script", ("acc", "gain", "run"), columns=("mnist", "digits", "loss"))])
    assert "| | mnist | digits |\n|---|---|---|\n|  | 0.9123 | 0.5 |" in text
    assert "0.02 ± 0.01" in text and "| a | 0.1 |" in text
    assert "steps run: 2; wall time 2.0 min" in text and "final loss (mean of the last 50 steps) 0.7500" in text
    assert "/tmp/" not in text  # the run folder and the path column are not shown
    with pytest.raises(KeyError, match="no entry 'missing'"):
        render_model_card("T", "", [], [CardResult("R", res, "a script", ("missing",))])
