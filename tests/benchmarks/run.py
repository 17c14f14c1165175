"""`make bench`: the series' speed and the VAE recipe's quality, measured side by side in one run.

    python -m tests.benchmarks.run [--budget 60] [--seeds 3] [--repeats 1] [--skip-notebooks] [--out FILE]

Sections: machine (float32 matmul rate), notebook run times and peak memory, VAE quality at equal wall-clock
(ours vs the PyTorch-examples reference), training throughput, explorer latency, cost per epoch vs data size.
Writes `tests/benchmarks/results.md` and prints the same. Timings are medians over repeats; ratios come from the
same run.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
RESULTS = Path(__file__).resolve().parent / "results.md"
BUDGETS_S = {"01": 90, "05": 90, "03": 120, "07": 120}  # every other notebook: 60 s
DEFAULT_BUDGET_S = 60
GOAL_NATS = 3.0
PEAK_MEMORY_CELL = "import resource as _r; print('PEAK_RSS_KB', _r.getrusage(_r.RUSAGE_SELF).ru_maxrss)"


def matmul_gflops(size: int = 1024, repeats: int = 10) -> float:
    """The machine's float32 matmul rate (GFLOP/s) with torch's threads: median of `repeats` timed products."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - start)
    return 2 * size**3 / statistics.median(times) / 1e9


def notebook_times(paths: list[Path], repeats: int = 1, timeout: int = 600) -> list[dict]:
    """Execute each notebook in a fresh kernel (nbclient): median wall time and the kernel's peak RSS."""
    import nbformat
    from nbclient import NotebookClient

    rows = []
    for path in paths:
        seconds, peaks = [], []
        for _ in range(repeats):
            nb = nbformat.read(str(path), as_version=4)
            nb.cells.append(nbformat.v4.new_code_cell(PEAK_MEMORY_CELL))
            client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                    resources={"metadata": {"path": str(path.parent)}})
            start = time.perf_counter()
            client.execute()
            seconds.append(time.perf_counter() - start)
            text = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
            peaks.append(int(text.split()[-1]) / 1024)
        budget = BUDGETS_S.get(path.name[:2], DEFAULT_BUDGET_S)
        median = statistics.median(seconds)
        rows.append({"notebook": path.stem, "seconds": median, "peak_mb": max(peaks), "budget": budget,
                     "over": median > budget})
    return rows


def recipe_quality(budget_s: float, seeds: list[int], iwae_k: int = 1000) -> dict[str, dict]:
    """Ours vs reference, each trained for `budget_s` seconds per seed (latent 20): test ELBO and IWAE-k."""
    from helpers.recipes import compare_recipes

    comparison = compare_recipes(budget_s=budget_s, seeds=seeds, latent_dim=20, iwae_k=iwae_k)
    results = {}
    for name in ("ours", "reference"):
        runs = [r for r in comparison["runs"] if r["recipe"] == name]
        results[name] = {"latent": comparison["latent_dim"], "elbo": [r["test_elbo"] for r in runs],
                         "iwae": [r[f"test_iwae_{iwae_k}"] for r in runs], "epochs": [r["epochs"] for r in runs]}
    return results


def throughput(gflops: float, latent_dim: int = 20) -> dict[str, dict]:
    """Images per second of one training epoch of each recipe's model and batch size, and the FLOP rate it implies."""
    from helpers.data import dynamic_binarize, load_mnist
    from helpers.models import VAE
    from helpers.objectives import elbo
    from helpers.recipes import OURS, REFERENCE
    from helpers.training import fit

    x, _ = load_mnist("train")
    rows = {}
    for recipe in (OURS, REFERENCE):
        model = VAE(latent_dim, recipe.hidden, activation=recipe.activation)
        history = fit(model, lambda m, b: -elbo(m, b).mean(), x, epochs=1, batch_size=recipe.batch_size,
                      transform=dynamic_binarize, progress=False)
        encoder = [784, *recipe.hidden, 2 * latent_dim]
        decoder = [latent_dim, *reversed(recipe.hidden), 784]
        weights = sum(a * b for sizes in (encoder, decoder) for a, b in zip(sizes[:-1], sizes[1:]))
        rate = len(x) / history["seconds"][0]
        rows[recipe.name] = {"images_per_s": rate, "fraction_of_matmul": rate * 6 * weights / (gflops * 1e9)}
    return rows


def explorer_latency(moves: int = 60) -> dict[str, tuple[float, float]]:
    """Median and 95th percentile (ms) of the in-kernel update after a slider move, per explorer of notebook 06."""
    from helpers.data import load_mnist
    from helpers.pretrained import load
    from helpers.widgets import EncodeEditExplorer, InterpolationExplorer, LatentExplorer2D

    x_test, y_test = load_mnist("test", binarize="static")
    z2, z16 = load("vae-mnist-z2"), load("vae-mnist-z16")
    with torch.no_grad():
        mu2, _ = z2.encode(x_test)
    rng = np.random.default_rng(0)
    explorers = {
        "2-D explorer": (LatentExplorer2D(z2, mu2, y_test), lambda e: e.sliders),
        "encode-then-edit": (EncodeEditExplorer(z16, x_test, y_test), lambda e: list(e.sliders.values())),
        "interpolation": (InterpolationExplorer(z16, x_test), lambda e: [e.t]),
    }
    rows = {}
    for name, (explorer, sliders) in explorers.items():
        explorer.timings_ms.clear()
        for _ in range(moves):
            slider = sliders(explorer)[int(rng.integers(len(sliders(explorer))))]
            slider.value = float(np.round(rng.uniform(slider.min, slider.max), 2))
        rows[name] = (float(np.median(explorer.timings_ms)), float(np.percentile(explorer.timings_ms, 95)))
    return rows


def epoch_scaling(sizes: tuple[int, ...] = (1000, 2000, 4000), repeats: int = 3) -> dict[int, float]:
    """Seconds per epoch of our recipe's model for each training-set size (median of `repeats` epochs)."""
    from helpers.data import dynamic_binarize, load_mnist
    from helpers.models import VAE
    from helpers.objectives import elbo
    from helpers.recipes import OURS
    from helpers.training import fit

    x, _ = load_mnist("train")
    datasets = {n: x[:n] for n in sizes}
    if _full_mnist_cached():
        datasets[60000] = load_mnist("train", source="full")[0]
    rows = {}
    for n, data in datasets.items():
        model = VAE(16, OURS.hidden, activation=OURS.activation)
        history = fit(model, lambda m, b: -elbo(m, b).mean(), data, epochs=repeats, batch_size=OURS.batch_size,
                      transform=dynamic_binarize, progress=False)
        per_epoch = np.diff([0.0, *history["seconds"]])
        rows[n] = float(np.median(per_epoch))
    return rows


def _full_mnist_cached() -> bool:
    from helpers import cache_dir
    from helpers.data import MNIST_FILES

    return all((cache_dir() / "mnist-full" / name).exists() for name in MNIST_FILES)


def _mean_sd(values: list[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.2f} ± {sd:.2f}"


def report(sections: dict) -> str:
    """The results as markdown."""
    lines = ["# Benchmark results", "", f"- date: {sections['date']}", f"- machine: {sections['machine']}",
             f"- torch {torch.__version__}, {torch.get_num_threads()} threads",
             f"- float32 matmul (1024²): {sections['gflops']:.1f} GFLOP/s", ""]
    if "notebooks" in sections:
        rows = sections["notebooks"]
        lines += ["## Notebook run times (fresh kernel each, nbclient)", "",
                  "| notebook | seconds | budget | peak memory (MB) | |", "| --- | ---: | ---: | ---: | --- |"]
        lines += [f"| {r['notebook']} | {r['seconds']:.1f} | {r['budget']} | {r['peak_mb']:.0f} | "
                  f"{'**over budget**' if r['over'] else 'ok'} |" for r in rows]
        lines += [f"| **total** | {sum(r['seconds'] for r in rows):.1f} | | | |", ""]
    quality = sections["quality"]
    ours, ref = quality["ours"], quality["reference"]
    gap = statistics.mean(ours["elbo"]) - statistics.mean(ref["elbo"])
    lines += [f"## VAE quality at equal wall-clock ({sections['budget']:.0f} s each, {len(ours['elbo'])} seeds)", "",
              "| recipe | latent | epochs run | test ELBO (nats) | test IWAE-1000 (nats) |",
              "| --- | ---: | ---: | ---: | ---: |"]
    for name, row in (("ours", ours), ("reference (PyTorch examples)", ref)):
        lines.append(f"| {name} | {row['latent']} | {statistics.median(row['epochs']):.0f} | {_mean_sd(row['elbo'])} "
                     f"| {_mean_sd(row['iwae'])} |")
    verdict = "met" if gap >= GOAL_NATS else "NOT met"
    lines += ["", f"Difference in test ELBO: **{gap:+.2f} nats** "
              f"(goal: ours ≥ {GOAL_NATS:.0f} nats better: {verdict}).", ""]
    lines += ["## Training throughput (one epoch)", "", "| recipe | images/s | fraction of matmul rate |",
              "| --- | ---: | ---: |"]
    lines += [f"| {name} | {row['images_per_s']:.0f} | {row['fraction_of_matmul']:.1%} |"
              for name, row in sections["throughput"].items()]
    lines += ["", "## Explorer latency (in-kernel, slider change → new image)", "",
              "| explorer | median (ms) | 95th percentile (ms) |", "| --- | ---: | ---: |"]
    lines += [f"| {name} | {median:.1f} | {p95:.1f} |" for name, (median, p95) in sections["latency"].items()]
    lines += ["", "## Cost per epoch vs training-set size (our recipe's model)", "",
              "| training digits | seconds / epoch | per 1,000 digits |", "| ---: | ---: | ---: |"]
    lines += [f"| {n:,} | {s:.2f} | {1000 * s / n:.3f} |" for n, s in sections["scaling"].items()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.run", description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=60.0, help="training seconds per recipe and seed")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=1, help="executions per notebook (median)")
    parser.add_argument("--skip-notebooks", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.budget <= 0 or args.seeds < 1 or args.repeats < 1:
        parser.error("--budget must be positive, --seeds and --repeats at least 1")
    sections: dict = {"date": datetime.date.today().isoformat(), "budget": args.budget,
                      "machine": f"{platform.processor() or platform.machine()}, {_cores()} cores, "
                                 f"{platform.system()} {platform.release()}"}
    sections["gflops"] = matmul_gflops()
    if not args.skip_notebooks:
        paths = sorted((ROOT / "notebooks").glob("0*.ipynb"))
        sections["notebooks"] = notebook_times(paths, args.repeats)
    sections["quality"] = recipe_quality(args.budget, list(range(args.seeds)))
    sections["throughput"] = throughput(sections["gflops"])
    sections["latency"] = explorer_latency()
    sections["scaling"] = epoch_scaling()
    text = report(sections)
    args.out.write_text(text)
    print(text)
    return text


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


if __name__ == "__main__":
    main()
