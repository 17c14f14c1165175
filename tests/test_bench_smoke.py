"""A smoke run of `make bench`: every section on a tiny configuration, so the benchmark cannot rot unnoticed."""

from __future__ import annotations

import nbformat
import pytest

from tests.benchmarks import run as bench


@pytest.fixture(scope="module")
def sections(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bench")
    notebook = folder / "01_tiny.ipynb"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = sum(range(10))")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(notebook))
    gflops = bench.matmul_gflops(size=256, repeats=3)
    return {
        "date": "today", "machine": "test", "budget": 1.0, "gflops": gflops,
        "notebooks": bench.notebook_times([notebook]),
        "quality": bench.recipe_quality(budget_s=1.0, seeds=[0, 1], iwae_k=5),
        "throughput": bench.throughput(gflops),
        "latency": bench.explorer_latency(moves=5),
        "scaling": bench.epoch_scaling(sizes=(200, 400), repeats=1),
    }


def test_every_section_measures_something(sections):
    assert sections["gflops"] > 0.1
    (row,) = sections["notebooks"]
    assert 0 < row["seconds"] < row["budget"] == 90 and row["peak_mb"] > 10 and not row["over"]
    for recipe in ("ours", "reference"):
        quality = sections["quality"][recipe]
        assert len(quality["elbo"]) == 2 and all(-800 < v < 0 for v in quality["elbo"] + quality["iwae"])
        assert sections["throughput"][recipe]["images_per_s"] > 0
    assert set(sections["latency"]) == {"2-D explorer", "encode-then-edit", "interpolation"}
    assert all(0 < median <= p95 for median, p95 in sections["latency"].values())
    assert set(sections["scaling"]) == {200, 400}


def test_report_has_every_table(sections):
    text = bench.report(sections)
    for heading in ("Notebook run times", "VAE quality at equal wall-clock", "Training throughput",
                    "Explorer latency", "Cost per epoch"):
        assert f"## {heading}" in text
    assert "01_tiny" in text and "goal: ours ≥ 3 nats better" in text
