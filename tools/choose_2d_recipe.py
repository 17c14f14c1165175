"""How `OURS_2D` was chosen: `python -m tools.choose_2d_recipe` (about 10 min on 2 cores; writes its record).

The m = 2 model is trained on all 4,000 training digits, so its training objective and length are chosen here on a
held-out split instead: each candidate trains on 3,500 digits and is scored at its last epoch on the other 500
(statically binarized) by the ELBO and by IWAE-1000, the bench's measure of log p(x). Candidates: the ELBO or the
IWAE-3 bound (OURS's objective), each for 60 to 300 cosine-annealed epochs; one thread, seed 0, two runs at a time.
The record, tools/choose_2d_recipe.json, is what `helpers/recipes.py` cites for OURS_2D.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

RECORD = Path(__file__).with_suffix(".json")
CANDIDATES = [(samples, epochs) for epochs in (60, 120, 200, 300) for samples in (1, 3)]
N_VALID = 500


def score_candidate(train_samples: int, epochs: int) -> dict:
    """Train OURS_2D with this objective and length on 3,500 digits; score the last epoch on the held-out 500."""
    import torch

    from helpers.data import load_mnist, static_binarize, train_valid_split
    from helpers.objectives import elbo, iwae_bound
    from helpers.recipes import OURS_2D, VALID_SEED_OFFSET, train_vae

    torch.set_num_threads(1)
    recipe = dataclasses.replace(OURS_2D, n_valid=N_VALID, patience=None, train_samples=train_samples, epochs=epochs)
    x, y = load_mnist("train")
    _, (valid_x, _) = train_valid_split(x, y, N_VALID, seed=0)  # the split train_vae holds out
    valid_x = static_binarize(valid_x, seed=VALID_SEED_OFFSET)
    scores: dict[str, float] = {}

    def score_last_epoch(epoch: int, model: torch.nn.Module) -> None:
        if epoch == epochs:  # before fit restores its best-validation-ELBO weights: the run as it ends
            model.eval()
            with torch.no_grad():
                torch.manual_seed(0)
                scores["valid_elbo"] = round(float(elbo(model, valid_x).mean()), 2)
                torch.manual_seed(0)
                scores["valid_iwae_1000"] = round(float(iwae_bound(model, valid_x, k=1000).mean()), 2)
            model.train()

    start = time.perf_counter()
    train_vae(recipe, 2, seed=0, progress=False, on_epoch_end=score_last_epoch)
    return {"train_samples": train_samples, "epochs": epochs, **scores,
            "seconds": round(time.perf_counter() - start)}


def _run_in_subprocess(candidate: tuple[int, int]) -> dict:
    samples, epochs = candidate
    done = subprocess.run([sys.executable, "-m", "tools.choose_2d_recipe", "--one", str(samples), str(epochs)],
                          capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parent.parent)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--one", nargs=2, type=int, metavar=("TRAIN_SAMPLES", "EPOCHS"),
                        help="score one candidate and print it as JSON")
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(score_candidate(*args.one)))
        return
    with ThreadPoolExecutor(max_workers=2) as pool:
        rows = list(pool.map(_run_in_subprocess, CANDIDATES))
    for row in rows:
        print(row, flush=True)
    RECORD.write_text(json.dumps({"n_valid": N_VALID, "seed": 0, "candidates": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
