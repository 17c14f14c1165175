"""The portability run's parts (tests/portability/): assert instrumentation, margin factors, and the committed record.

The run itself (`make test-portable`) executes the notebooks three times; these tests check, in a second, that its
instrument logs what the asserts compare without changing what they do, that its verdicts are right on made-up
logs, and that the committed record and docs/portability.md's block agree and hold no failure.
"""

from __future__ import annotations

import ast
import json

import numpy as np
import pytest
import torch

from tests.generated_block import read_block
from tests.portability import run
from tests.portability.instrument import AssertRewriter, Recorder


def _execute(source: str, log) -> list[dict]:
    """Run `source` as a notebook cell would be run under the instrument; return the logged rows."""
    recorder = Recorder(log)
    recorder.cell = 7
    tree = ast.fix_missing_locations(AssertRewriter(recorder).visit(ast.parse(source)))
    exec(compile(tree, "<cell>", "exec"), {"__claims__": recorder, "np": np, "torch": torch})
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_comparisons_are_logged_with_both_sides(tmp_path):
    rows = _execute("a, b = 2.0, torch.tensor(3.0)\nassert a < b <= 3 and np.float64(1) == 1, 'msg'\n"
                    "assert all([True])\nfor k in range(2):\n    assert k >= 0\n", tmp_path / "log")
    assert [(r["text"], r["op"], r["left"], r["right"], r["held"]) for r in rows[:3]] == [
        ("a < b", "<", 2.0, 3.0, True), ("b <= 3", "<=", 3.0, 3.0, True), ("np.float64(1) == 1", "==", 1.0, 1.0, True)]
    assert rows[3]["op"] == "truth" and rows[3]["held"] is True
    assert [(r["cell"], r["occurrence"]) for r in rows[4:]] == [(7, 0), (7, 1)]


def test_a_failing_assert_still_fails_with_its_message_and_is_logged(tmp_path):
    with pytest.raises(AssertionError, match="too small"):
        _execute("x = 0.5\nassert x > 0.9 or x < 0.1, 'too small'\n", tmp_path / "log")
    rows = [json.loads(line) for line in (tmp_path / "log").read_text().splitlines()]
    assert [r["held"] for r in rows] == [False, False]


def test_a_chain_stops_where_python_stops_and_tensors_are_left_to_the_assert(tmp_path):
    rows = _execute("assert not (3 < 1 < 2)\nassert (torch.ones(2) > 0).all()\n", tmp_path / "log")
    assert [r["text"] for r in rows] == ["not 3 < 1 < 2", "(torch.ones(2) > 0).all()"]  # `not`, calls: a truth
    with pytest.raises(RuntimeError):  # a multi-element comparison raises as it would without the instrument
        _execute("assert torch.ones(2) > 0\n", tmp_path / "log2")


def _result(setting, left, right=1.0, op=">", notebook="01_x"):
    row = {"cell": 3, "line": 1, "part": "1.0", "occurrence": 0, "text": "x > 1.0", "op": op, "left": left,
           "right": right, "held": True}
    return {"setting": setting, "notebook": notebook, "rows": [row]}


def _margins(lefts, **kwargs):
    return run.margin_rows([_result(name, left, **kwargs) for name, left in zip(run.SETTINGS, lefts)])


def test_margin_factor_is_smallest_slack_over_spread():
    rows, counts = _margins([1.5, 1.4, 1.45])
    assert counts["kernel_dependent"] == 1
    assert rows[0]["factor"] == pytest.approx(0.4 / 0.1) and rows[0]["smallest_slack"] == pytest.approx(0.4)
    assert _margins([1.5, 1.5, 1.5])[0] == [], "the same numbers under every setting: not kernel-dependent"
    low = _margins([1.05, 1.1, 1.03])[0][0]
    assert low["factor"] == pytest.approx(0.03 / 0.07)
    record = {"runs": [], "rows": [low], "counts": {"incomplete": 0},
              "settings": {n: {"fingerprint": {k: n for k in run.CHANGED_KEYS}} for n in run.SETTINGS}}
    assert any("margin factor" in p for p in run.problems(record))
    assert not run.problems({**record, "rows": _margins([1.5, 1.4, 1.45])[0]})


def test_wall_clock_claims_must_hold_but_are_not_held_to_the_factor():
    timing = next(iter(run.TIMING_CLAIMS))
    results = [_result(name, left, notebook=f"{timing[0]}_x") for name, left in zip(run.SETTINGS, [95, 350, 166])]
    for result in results:
        result["rows"][0]["text"] = timing[1]
    rows, _ = run.margin_rows(results)
    assert rows[0]["timing"] and rows[0]["factor"] < run.MIN_FACTOR
    settings = {n: {"fingerprint": {k: n for k in run.CHANGED_KEYS}} for n in run.SETTINGS}
    assert not run.problems({"runs": [], "rows": rows, "counts": {"incomplete": 0}, "settings": settings})


def test_a_setting_that_changes_nothing_and_an_unreached_claim_fail_the_run():
    same = {"settings": {n: {"fingerprint": {k: "x" for k in run.CHANGED_KEYS}} for n in run.SETTINGS},
            "runs": [{"notebook": "01", "setting": "native", "error": "AssertionError: boom"}], "rows": [],
            "counts": {"incomplete": 2}}
    found = " | ".join(run.problems(same))
    assert "tests nothing" in found and "AssertionError: boom" in found and "not reached" in found
    rows, counts = run.margin_rows([_result("native", 1.5)])
    assert counts["incomplete"] == 1 and rows == []


def test_equality_that_moves_with_the_kernels_is_a_failure():
    rows, _ = _margins([16, 16, 15], right=16, op="==")
    assert rows and rows[0]["factor"] is not None and rows[0]["factor"] <= 0


def test_committed_record_covers_every_notebook_and_setting_without_a_problem():
    record = json.loads(run.RECORD.read_text())
    assert set(record["settings"]) == set(run.SETTINGS)
    for name, spec in run.SETTINGS.items():
        assert record["settings"][name]["env"] == spec["env"], f"{name}: the record was made with other knobs"
    ran = {(r["setting"], r["notebook"]) for r in record["runs"]}
    assert ran >= {(s, n) for s in run.SETTINGS for n in run.NOTEBOOKS}
    assert not run.problems(record), run.problems(record)


def test_page_block_is_rendered_from_the_record(tmp_path, monkeypatch):
    record = json.loads(run.RECORD.read_text())
    committed = read_block(run.PAGE, run.BEGIN, run.END)
    page = tmp_path / "portability.md"
    page.write_text(f"x\n{run.BEGIN}\n{run.END}\n")
    monkeypatch.setattr(run, "PAGE", page)
    monkeypatch.setattr(run, "TABLE", tmp_path / "margins.md")
    run.render(record)
    assert committed and read_block(page, run.BEGIN, run.END) == committed, (
        "docs/portability.md's block is not what the record renders: run `python -m tests.portability.run --render`")
    assert (tmp_path / "margins.md").read_text() == (run.HERE / "margins.md").read_text()
