"""Notebooks 05 and 07 quote the digit judge's model-seed measurements from their record, never by hand.

The record is written by `python -m tests.judge_eval --model-seeds 0 1 2 3 4 --record`; `tests.judge_eval.quotes`
words each quoted sentence from it, and every sentence must appear in its notebook (whitespace aside)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests import judge_eval

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = {"05": "05_variational_autoencoder.ipynb", "07": "07_beyond_the_vae.ipynb"}


def _record() -> dict:
    return json.loads(judge_eval.RECORD.read_text())


def _text(notebook: str) -> str:
    cells = json.loads((ROOT / "notebooks" / NOTEBOOKS[notebook]).read_text())["cells"]
    return re.sub(r"\s+", " ", " ".join("".join(cell["source"]) for cell in cells))


def test_the_record_holds_one_value_per_model_seed_in_every_row():
    record = _record()
    assert len(record["model_seeds"]) >= 3 and len(record["judge_seeds"]) >= 3, "spreads need several seeds"
    assert all(len(values) == len(record["model_seeds"]) for values in record["table"].values())


@pytest.mark.parametrize("notebook", sorted(NOTEBOOKS))
def test_each_quoted_sentence_is_in_its_notebook(notebook):
    text = _text(notebook)
    missing = [sentence for sentence in judge_eval.quotes(_record())[notebook] if sentence not in text]
    assert not missing, (f"notebook {notebook} should quote, from {judge_eval.RECORD.name}: {missing} "
                         "(re-run `python -m tests.judge_eval --model-seeds 0 1 2 3 4 --record`, which prints them)")


def test_a_changed_number_in_the_record_is_caught():
    record = _record()
    key = "VAE prior samples: judged_digits"
    changed = {**record, "table": {**record["table"], key: [value + 0.05 for value in record["table"][key]]}}
    text = _text("05")
    assert any(sentence not in text for sentence in judge_eval.quotes(changed)["05"])
