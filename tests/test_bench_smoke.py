"""A smoke run of `make bench`: every section on a tiny configuration, so the benchmark cannot rot unnoticed."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json

import nbformat
import pytest

from helpers.recipes import OURS
from tests.benchmarks import grading_rate
from tests.benchmarks import run as bench

pytestmark = pytest.mark.slow  # the bench itself runs here, shortened (make check leaves it to make test)


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory):
    """The record of a tiny run of every section, and what the run printed on stderr (its progress lines)."""
    progress = io.StringIO()
    with contextlib.redirect_stderr(progress):
        record = _tiny_record(tmp_path_factory)
    return record, progress.getvalue()


@pytest.fixture(scope="module")
def record(bench_run):
    return bench_run[0]


def _tiny_record(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bench")
    notebook = folder / "01_tiny.ipynb"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = sum(range(10))")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(notebook))
    gflops = bench.matmul_gflops(size=256, repeats=3)
    stamp = {"date": "today", "machine": "test", "load": "load average 0.0"}
    comparison = bench.recipe_quality(budget_s=1.0, seeds=[0, 1], iwae_k=5)
    entries = {
        "notebooks": bench.notebook_times([notebook]),
        "recipe_comparison": comparison,
        "ablation": bench.recipe_ablation(comparison, seeds=[0]),
        "speed": {"gflops": gflops, "threads": 1, "throughput": bench.throughput(gflops, epochs=2),
                  "latency": bench.explorer_latency(moves=5),
                  "scaling": bench.epoch_scaling(sizes=(200, 400), repeats=1),
                  "optimizer": bench.optimizer_step_times(steps=5, rounds=1)},
    }
    return json.loads(json.dumps(bench.merge({}, entries, list(bench.SECTIONS), stamp)))  # as read back from disk


def test_every_section_measures_something(record):
    (row,) = record["notebooks"]
    assert 0 < row["seconds"] < row["budget_s"] == bench.DEFAULT_BUDGET_S and row["peak_mb"] > 10
    comparison = record["recipe_comparison"]
    assert [r["recipe"] for r in comparison["runs"]] == ["ours", "reference"] * 2
    assert all(-800 < r[score] < 0 for r in comparison["runs"] for score in ("test_elbo", "test_iwae"))
    assert set(comparison["difference"]) == {"elbo", "iwae"} and len(comparison["difference"]["iwae"]["per_seed"]) == 2
    assert set(record["ablation"]) == set(bench.ablations())
    for row in record["ablation"].values():
        ours = next(r for r in comparison["runs"] if r["recipe"] == "ours" and r["seed"] == 0)
        assert row["effect_iwae"]["per_seed"] == [ours["test_iwae"] - row["runs"][0]["test_iwae"]]
    speed = record["speed"]
    assert speed["gflops"] > 0.1 and all(speed["throughput"][r]["images_per_s"] > 0 for r in ("ours", "reference"))
    assert set(speed["latency"]) == {"2-D explorer", "encode-then-edit", "interpolation"}
    assert all(0 < median <= p95 for median, p95 in speed["latency"].values())
    assert set(speed["scaling"]) == {"200", "400"}
    assert set(speed["optimizer"]) == {"Adam", "Adam, fused"} and all(ms > 0 for ms in speed["optimizer"].values())
    assert "## Training throughput (median epoch of 2)" in bench.report(record), "the header names the epochs timed"


def test_long_steps_announce_themselves_with_the_time_left(bench_run):
    """`make bench` says which notebook, recipe, seed or ablation it is on, and about how long is left."""
    progress = bench_run[1]
    assert "[bench notebooks 1/1] executing 01_tiny.ipynb; about 40 s left" in progress
    for k, (recipe, seed) in enumerate([("ours", 0), ("reference", 0), ("ours", 1), ("reference", 1)], start=1):
        announced = f"[bench quality {k}/4] recipe '{recipe}', seed {seed}: 1 s of training, then scoring; about "
        assert announced in progress
    assert f"[bench ablation {len(bench.ablations())}/{len(bench.ablations())}] without " in progress
    assert "[bench quality] 4 steps in " in progress and "[bench notebooks] 1 steps in " in progress


def test_time_left_is_estimated_from_the_steps_done():
    out, now = io.StringIO(), iter([0.0, 20.0, 20.0, 60.0])  # the clock at each start and at the close
    steps = bench.Steps("demo", total=3, first_guess_s=600, out=out, clock=lambda: next(now))
    steps.start("first")
    steps.start("second")
    steps.close()
    assert out.getvalue().splitlines() == ["[bench demo 1/3] first; about 30 min left",  # 3 × the first guess
                                           "[bench demo 2/3] second; about 40 s left",  # 2 × the 20 s step done
                                           "[bench demo] 2 steps in 60 s"]


def test_time_left_follows_the_expected_times_of_the_steps_left_at_this_machines_pace():
    out, now = io.StringIO(), iter([0.0, 2.0, 2.0, 22.0, 22.0, 24.0])  # steps of 2, 20 and 2 s
    steps = bench.Steps("demo", total=3, first_guess_s=600, out=out, clock=lambda: next(now),
                        guesses_s=[1, 10, 1])
    for what in ("short", "long", "short again"):
        steps.start(what)
    steps.close()
    assert out.getvalue().splitlines() == ["[bench demo 1/3] short; about 12 s left",  # the guesses: 1 + 10 + 1
                                           "[bench demo 2/3] long; about 22 s left",  # (10 + 1) × 2: twice as slow
                                           "[bench demo 3/3] short again; about 2 s left",  # 1 × 22/11
                                           "[bench demo] 3 steps in 24 s"]
    with pytest.raises(ValueError, match="one time per step"):
        bench.Steps("demo", total=3, first_guess_s=1, guesses_s=[1, 2])


def test_the_flop_count_charges_the_decoder_once_per_training_sample():
    two_layers = dataclasses.replace(OURS, hidden=(512, 512))
    encoder = 784 * 512 + 512 * 512 + 512 * 40
    decoder = 20 * 512 + 512 * 512 + 512 * 784
    assert bench._weights_per_image(dataclasses.replace(two_layers, train_samples=1), 20) == encoder + decoder
    assert bench._weights_per_image(dataclasses.replace(two_layers, train_samples=3), 20) == encoder + 3 * decoder


def test_report_has_every_table(record):
    text = bench.report(record)
    for heading in ("Notebook run times", "VAE quality at equal wall-clock", "What each change adds",
                    "Training throughput", "Explorer latency", "Cost per epoch"):
        assert f"## {heading}" in text
    assert "01_tiny" in text and "goal: ours ≥ 3 nats better" in text and "Difference in test IWAE-5" in text


def test_one_section_merges_into_the_record_and_keeps_the_others(record):
    later = {"date": "later", "machine": "quiet", "load": "load average 0.1"}
    notebooks = [{**record["notebooks"][0], "seconds": 1.0}]
    merged = bench.merge(record, {"notebooks": notebooks}, ["notebooks"], later)
    assert merged["notebooks"] == notebooks and merged["recipe_comparison"] == record["recipe_comparison"]
    assert merged["measured"]["notebooks"] == later and merged["measured"]["quality"]["date"] == "today"
    assert "Measured later on quiet" in bench.report(merged)


def test_the_ablations_each_undo_one_change_of_our_recipe():
    for change, without in bench.ablations().items():
        changed = [f for f in OURS.__dataclass_fields__ if getattr(OURS, f) != getattr(without, f)]
        assert set(changed) - {"name"}, f"{change}: the ablation must differ from our recipe"
        assert len(set(changed) - {"name", "lr", "patience"}) == 1, f"{change} changes {changed}"


def test_notebook_05s_list_of_changes_is_the_ablation_table():
    """Notebook 05 lists the recipe's changes (CHANGES: name → fields); the bench ablates exactly those."""
    import ast

    notebook = nbformat.read(bench.ROOT / "notebooks" / "05_variational_autoencoder.ipynb", as_version=4)
    source = next(cell.source for cell in notebook.cells if cell.cell_type == "code" and "\nCHANGES = {" in cell.source)
    node = next(node for node in ast.parse(source).body
                if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "CHANGES")
    listed = ast.literal_eval(node.value)
    ablated = {change: {f for f in OURS.__dataclass_fields__ if getattr(OURS, f) != getattr(without, f)} - {"name"}
               for change, without in bench.ablations().items()}
    assert listed == ablated, "notebook 05's CHANGES and tests/benchmarks/run.py's ablations() disagree"


def test_performance_page_shows_the_committed_record():
    """docs/performance.md's bench block is the bench's rendering of results.json: no measured number typed twice."""
    committed = json.loads(bench.RECORD.read_text())
    assert bench.page_block() == bench.page_section(committed), (
        "run `make bench BENCH_ARGS=--render` (it rewrites the block of docs/performance.md)")


def test_readme_grading_line_is_written_from_the_committed_record(tmp_path):
    """README's grading speed and course estimate come from the bench's grading section, with its date and machine."""
    committed = json.loads(bench.RECORD.read_text())
    assert "grading" in committed, "run `make bench BENCH_ARGS=\"--only grading\"`"
    line = grading_rate.readme_line(committed)
    assert grading_rate.readme_block() == line, "run `make bench BENCH_ARGS=--render` (it rewrites README's line)"
    stamp = committed["measured"]["grading"]
    assert stamp["date"] in line and stamp["machine"] in line
    assert committed["grading"]["mismatches"] == [], "a fabricated submission was graded wrong in the recorded run"
    page = tmp_path / "README.md"
    page.write_text(f"intro\n{grading_rate.BEGIN}\nold\n{grading_rate.END}\nafter\n", encoding="utf-8")
    grading_rate.write_readme(committed, page)
    assert grading_rate.readme_block(page) == line and page.read_text(encoding="utf-8").endswith("after\n")


def test_write_page_replaces_only_the_block(tmp_path, record):
    page = tmp_path / "performance.md"
    page.write_text(f"intro\n{bench.BEGIN}\nold numbers\n{bench.END}\nafter\n", encoding="utf-8")
    bench.write_page(record, page)
    text = page.read_text(encoding="utf-8")
    assert text.startswith("intro\n") and text.endswith(f"{bench.END}\nafter\n") and "old numbers" not in text
    assert bench.page_block(page) == bench.page_section(record)


@pytest.mark.parametrize(("per_seed", "verdict"), [
    ([1.8, 2.2, 1.9], "helps"), ([-0.9, -1.1, -1.0], "hurts"), ([-0.1, 0.5, 0.0], "within noise"),
    ([2.0], "one seed: no verdict"),
])
def test_effect_verdict_weighs_the_mean_against_two_standard_errors(per_seed, verdict):
    import statistics

    sd = statistics.stdev(per_seed) if len(per_seed) > 1 else 0.0
    assert bench.effect_verdict({"mean": statistics.mean(per_seed), "sd": sd, "per_seed": per_seed}) == verdict


def test_the_committed_record_covers_the_series_within_budget():
    """Notebook 00 displays the recorded run times; here they must cover every notebook and fit its budget."""
    rows = {row["notebook"]: row for row in json.loads(bench.RECORD.read_text())["notebooks"]}
    series = sorted(path.stem for path in (bench.ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert sorted(rows) == series, "run `make bench BENCH_ARGS=\"--only notebooks\"`"
    for name, row in rows.items():
        assert row["budget_s"] == bench.BUDGETS_S.get(name[:2], bench.DEFAULT_BUDGET_S), f"{name}: stale budget"
        assert row["seconds"] <= row["budget_s"], f"{name} ran {row['seconds']} s, over its {row['budget_s']} s budget"
    total = sum(row["seconds"] for row in rows.values())
    assert total <= bench.SERIES_BUDGET_S, f"the series ran {total:.0f} s, over its {bench.SERIES_BUDGET_S} s budget"


def test_notebook_00_shows_the_benchs_budgets_and_the_recorded_times():
    """00's SERIES budgets are the bench's, and its saved table is the committed record (re-run 00 after a bench)."""
    nb = nbformat.read(str(bench.ROOT / "notebooks" / "00_start_here.ipynb"), as_version=4)
    record = json.loads(bench.RECORD.read_text())
    rows = {row["notebook"]: row for row in record["notebooks"]}
    markdown = [output["data"]["text/markdown"] for cell in nb.cells if cell.cell_type == "code"
                for output in cell.get("outputs", []) if "text/markdown" in output.get("data", {})]
    table = next(text for text in markdown if "measured (s)" in text)
    shown = {}
    for line in table.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if cells[0].startswith("`0"):
            shown[cells[0].strip("`")] = (int(cells[2].removesuffix(" s")), float(cells[3].split()[0]))
    assert {name: budget for name, (budget, _) in shown.items()} == {
        name: bench.BUDGETS_S.get(name[:2], bench.DEFAULT_BUDGET_S) for name in rows}, "00's budgets aren't the bench's"
    assert {name: seconds for name, (_, seconds) in shown.items()} == {
        name: row["seconds"] for name, row in rows.items()}, "00 shows other times than the record: re-run notebook 00"
    total = sum(row["seconds"] for row in rows.values())
    assert f"{total:.0f} s for the whole series" in table and f"budget {bench.SERIES_BUDGET_S} s" in table


def test_a_record_in_a_new_folder_is_written_whole_after_measuring(tmp_path, monkeypatch):
    """The folder is made before the minutes of measuring, and the record is replaced atomically (no .partial left)."""
    record = tmp_path / "a new folder" / "results.json"
    monkeypatch.setattr(bench, "measure", lambda sections, args: {"notebooks": [{"notebook": "00", "seconds": 1.0}]})
    monkeypatch.setattr(bench, "write_reports", lambda record, path: "")
    bench.main(["--only", "notebooks", "--record", str(record)])
    written = json.loads(record.read_text())
    assert written["notebooks"] == [{"notebook": "00", "seconds": 1.0}] and "notebooks" in written["measured"]
    assert [path.name for path in record.parent.iterdir()] == ["results.json"]
