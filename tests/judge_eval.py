"""Measure the digit judge (`python -m tests.judge_eval [--seeds 0 1 2] [--model-seeds 0 1 2]`): its report card per
training seed (mean ± SE), training time on one CPU thread, and for the shipped VAEs, a quick autoencoder (box codes,
as in notebook 05) and a quick conditional VAE (as in notebook 07) the share of decoded random codes judged digits at
the raw and at the matched presentation (`helpers.judge.present`), and the set-level precision and recall.

--model-seeds retrains notebook 05's autoencoder (20 epochs) and VAE (OURS, 20 epochs) and notebook 07's conditional
VAE (10 epochs) with each seed and judges them with every judge seed: the numbers behind 05 §8 and 07 §6."""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from helpers import beyond, models, pretrained, seed_everything
from helpers.data import dynamic_binarize, load_mnist
from helpers.judge import (
    HELD_OUT_KINDS,
    format_report_card,
    gaussian_blur,
    held_out_non_digits,
    judged_as_requested,
    judged_digits,
    report_card,
    set_baselines,
    set_scores,
    train_digit_judge,
)
from helpers.recipes import OURS, train_vae
from helpers.training import fit

RECORD = Path(__file__).resolve().parent / "judge_model_seeds.json"  # written by --model-seeds ... --record


def _mean_sd(values: list[float]) -> str:
    """mean ± standard error over the judge seeds."""
    se = statistics.stdev(values) / len(values) ** 0.5 if len(values) > 1 else 0.0
    return f"{statistics.mean(values):6.1%} ± {se:5.1%}"


def _quick_ae(x_train: torch.Tensor, epochs: int) -> torch.Tensor:
    """Notebook 05's autoencoder (m = 16, SiLU, 400 hidden), fewer epochs; 500 decoded box codes (sigmoid)."""
    torch.manual_seed(0)
    ae = models.MLPAutoencoder(784, 16, hidden=(400,), activation="silu", sigmoid_output=False)

    def loss(model, batch):
        return F.binary_cross_entropy_with_logits(model(batch), batch, reduction="none").sum(dim=1).mean()

    fit(ae, loss, x_train, epochs=epochs, batch_size=100, lr=3e-3, transform=dynamic_binarize, desc="quick AE")
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        codes = ae.encoder(x_train)
        low, high = codes.min(dim=0).values, codes.max(dim=0).values
        return torch.sigmoid(ae.decoder(low + (high - low) * torch.rand(500, 16, generator=generator)))


def _quick_cvae(x_train: torch.Tensor, y_train: torch.Tensor, epochs: int):
    """Notebook 07's conditional VAE (m = 4, 128 hidden, lr 1e-2); 20 generated digits per requested class."""
    torch.manual_seed(0)
    cvae = beyond.ConditionalVAE(latent_dim=4, hidden=(128,))
    packed = torch.cat([x_train, beyond.one_hot(y_train)], dim=1)

    def binarize_pixels(batch):
        return torch.cat([dynamic_binarize(batch[:, :784]), batch[:, 784:]], dim=1)

    fit(cvae, beyond.cvae_loss, packed, epochs=epochs, batch_size=128, lr=1e-2, transform=binarize_pixels,
        desc="quick CVAE")
    wanted = torch.arange(10).repeat_interleave(20)
    return wanted, cvae.eval().generate(wanted, generator=torch.Generator().manual_seed(4))


def _models(seed: int, x_train: torch.Tensor, y_train: torch.Tensor) -> dict:
    """Notebook 05's AE box codes and VAE prior samples (500 each, Bernoulli means) and notebook 07's CVAE (50
    generated digits per requested class), all trained with `seed`."""
    seed_everything(seed)
    ae = models.MLPAutoencoder(784, 16, hidden=OURS.hidden, activation="silu", sigmoid_output=False)

    def loss(model, batch):
        return F.binary_cross_entropy_with_logits(model(batch), batch, reduction="none").sum(dim=1).mean()

    fit(ae, loss, x_train, epochs=20, batch_size=100, lr=3e-3, transform=dynamic_binarize, seed=seed, progress=False)
    vae = train_vae(dataclasses.replace(OURS, epochs=20), 16, model=models.VAE(16, OURS.hidden), seed=seed,
                    progress=False).model
    seed_everything(seed)
    cvae = beyond.ConditionalVAE(latent_dim=4, hidden=(128,))

    def binarize_pixels(batch):
        return torch.cat([dynamic_binarize(batch[:, :784]), batch[:, 784:]], dim=1)

    fit(cvae, beyond.cvae_loss, torch.cat([x_train, beyond.one_hot(y_train)], dim=1), epochs=10, batch_size=128,
        lr=1e-2, transform=binarize_pixels, seed=seed, progress=False)
    generator = torch.Generator().manual_seed(1)
    wanted = torch.arange(10).repeat_interleave(50)
    with torch.no_grad():
        codes = ae.encoder(x_train)
        low, high = codes.min(dim=0).values, codes.max(dim=0).values
        box = torch.sigmoid(ae.decoder(low + (high - low) * torch.rand(500, 16, generator=generator)))
        prior = torch.sigmoid(vae.decode(torch.randn(500, 16, generator=generator)))
        generated = cvae.eval().generate(wanted, generator=generator)
    return {"AE box codes": box, "VAE prior samples": prior, "CVAE": (generated, wanted)}


def _over_model_seeds(model_seeds, judge_seeds, x_train, y_train, x_test, y_test) -> dict[str, list[float]]:
    """Per model seed, the mean over judge seeds; then mean ± SE over model seeds, and VAE − AE paired.
    Returns {row: [one value per model seed]}."""
    baselines = set_baselines(x_train, x_test, y_test, n=500, seed=2)
    generator = torch.Generator().manual_seed(7)
    means_wanted = torch.arange(10).repeat_interleave(50)
    class_means = torch.stack([x_test[y_test == c][torch.randperm(int((y_test == c).sum()), generator=generator)[:30]]
                               .mean(0) for c in means_wanted.tolist()])
    table: dict[str, list[float]] = {}
    for model_seed in model_seeds:
        start = time.perf_counter()
        made = _models(model_seed, x_train, y_train)
        print(f"models of seed {model_seed} trained in {time.perf_counter() - start:.0f} s", flush=True)
        rows: dict[str, list[float]] = {}
        for judge_seed in judge_seeds:
            judge = train_digit_judge(x_train, y_train, seed=judge_seed)
            reference = x_train[torch.randperm(len(x_train), generator=torch.Generator().manual_seed(judge_seed))[:500]]
            groups = {"real test digits": baselines["real test digits"], "class means": class_means,
                      "AE box codes": made["AE box codes"], "VAE prior samples": made["VAE prior samples"]}
            for name, images in groups.items():
                scores = set_scores(judge, reference, images)
                scores["judged digits raw"] = judged_digits(judge, images, presented=False)
                for key, value in scores.items():
                    rows.setdefault(f"{name}: {key}", []).append(value)
            generated, wanted = made["CVAE"]
            for name, images, labels in (("CVAE", generated, wanted), ("class means", class_means, means_wanted),
                                         ("real test digits", x_test, y_test)):
                right = judged_as_requested(judge, images, labels)
                rows.setdefault(f"{name}: judged as requested", []).append(right.float().mean().item())
                rows.setdefault(f"{name}: judged as requested raw", []).append(
                    judged_as_requested(judge, images, labels, presented=False).float().mean().item())
                rows.setdefault(f"{name}: worst class as requested", []).append(
                    min(right[labels == c].float().mean().item() for c in range(10)))
            cvae_scores = set_scores(judge, reference, generated)
            rows.setdefault("CVAE: precision", []).append(cvae_scores["precision"])
            rows.setdefault("CVAE: recall", []).append(cvae_scores["recall"])
        for key, values in rows.items():
            table.setdefault(key, []).append(statistics.mean(values))
        for key in ("judged_digits", "judged digits raw", "precision", "recall"):
            table.setdefault(f"VAE - AE: {key}", []).append(
                statistics.mean(rows[f"VAE prior samples: {key}"]) - statistics.mean(rows[f"AE box codes: {key}"]))
    print(f"\n=== over model seeds {list(model_seeds)} (each the mean over judge seeds {list(judge_seeds)}): "
          "mean ± SE, then each seed")
    for key, values in sorted(table.items()):
        print(f"  {key:44s} {_mean_sd(values)}   " + " ".join(f"{v:6.1%}" for v in values))
    return table


def _mean_se(values: list[float]) -> tuple[float, float]:
    return statistics.mean(values), statistics.stdev(values) / len(values) ** 0.5


def quotes(record: dict) -> dict[str, list[str]]:
    """The sentences of notebooks 05 (§8) and 07 (§6) that quote the model-seed record, as the prose must word them.

    tests/test_judge_record.py checks that each appears in its notebook, so no number there is typed by hand."""
    table = record["table"]

    def pct(key: str) -> str:
        mean, se = _mean_se(table[key])
        return f"{100 * mean:.0f} ± {100 * se:.0f} %"

    def share(key: str, signed: bool = False) -> str:
        mean, se = _mean_se(table[key])
        return f"{mean:+.2f} ± {se:.2f}".replace("-", "−") if signed else f"{mean:.2f} ± {se:.2f}"

    def points(key: str) -> str:
        mean, se = _mean_se(table[key])
        return f"{100 * mean:+.1f} ± {100 * se:.1f} points".replace("-", "−")

    def mean_of(key: str, fmt: str) -> str:
        return format(statistics.mean(table[key]), fmt)

    vae, ae = "VAE prior samples", "AE box codes"
    presentation = [100 * (table["VAE - AE: judged_digits"][i] - table["VAE - AE: judged digits raw"][i])
                    for i in range(len(record["model_seeds"]))]
    return {
        "05": [
            f"judged digits VAE {pct(f'{vae}: judged_digits')} vs AE {pct(f'{ae}: judged_digits')} (paired difference "
            f"{points('VAE - AE: judged_digits')})",
            f"precision {share(f'{vae}: precision')} vs {share(f'{ae}: precision')} "
            f"({share('VAE - AE: precision', signed=True)})",
            f"recall {mean_of(f'{vae}: recall', '.2f')} vs {mean_of(f'{ae}: recall', '.2f')} "
            f"({share('VAE - AE: recall', signed=True)})",
            f"{pct(f'{vae}: judged digits raw')} vs {pct(f'{ae}: judged digits raw')}, a paired difference of "
            f"{points('VAE - AE: judged digits raw')}",
            f"the VAE lost {min(presentation):.0f} to {max(presentation):.0f} points more than the AE",
        ],
        "07": [
            f"requested {pct('CVAE: judged as requested')} (real test digits "
            f"{mean_of('real test digits: judged as requested', '.0%').replace('%', ' %')}, class means "
            f"{mean_of('class means: judged as requested', '.0%').replace('%', ' %')}), worst class "
            f"{pct('CVAE: worst class as requested')}, recall {share('CVAE: recall')} (real test digits "
            f"{mean_of('real test digits: recall', '.2f')}, class means {mean_of('class means: recall', '.2f')})",
        ],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--ae-epochs", type=int, default=20, help="0 skips the quick autoencoder")
    parser.add_argument("--cvae-epochs", type=int, default=10, help="0 skips the quick conditional VAE")
    parser.add_argument("--model-seeds", type=int, nargs="*", default=[],
                        help="retrain notebook 05's AE and VAE and 07's CVAE with each seed (about 70 s each)")
    parser.add_argument("--record", action="store_true",
                        help="with --model-seeds: write the table to tests/judge_model_seeds.json and print "
                             "the sentences notebooks 05 and 07 must quote from it")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    x_train, y_train = load_mnist("train")
    x_test, y_test = load_mnist("test")
    if args.model_seeds:
        table = _over_model_seeds(args.model_seeds, args.seeds, x_train, y_train, x_test, y_test)
        if args.record:
            record = {"model_seeds": args.model_seeds, "judge_seeds": args.seeds, "table": table}
            RECORD.write_text(json.dumps(record, indent=1) + "\n")
            for notebook, sentences in quotes(record).items():
                print(f"notebook {notebook} quotes:", *sentences, sep="\n  ")
        return

    generator = torch.Generator().manual_seed(1)
    samples = {}
    for name in pretrained.available():
        model = pretrained.load(name)
        samples[f"shipped {name}"] = model.sample(500, generator=generator)
    if args.ae_epochs:
        samples[f"quick AE m=16 ({args.ae_epochs} epochs), box codes"] = _quick_ae(x_train, args.ae_epochs)
    samples["real test digits (grey)"] = x_test
    wanted = generated = None
    if args.cvae_epochs:
        wanted, generated = _quick_cvae(x_train, y_train, args.cvae_epochs)

    n = 500
    fakes = held_out_non_digits(x_test, y_test, n=n, seed=3)
    baselines = set_baselines(x_train, x_test, y_test, n=n, seed=2)
    baselines["blurred test digits (σ = 2 px)"] = gaussian_blur(baselines["real test digits"], 2.0)
    baselines |= {"rotated": fakes["rotated"], "two blobs": fakes["two_blobs"]}
    set_groups = {**baselines, **{name: images[:n] for name, images in samples.items() if "real" not in name}}
    set_values = {name: {"judged_digits": [], "precision": [], "recall": []} for name in set_groups}
    cards, seconds, shares = [], [], {name: ([], []) for name in samples}
    requested = {"real test digits": ([], []), "CVAE generated": ([], [])}
    for seed in args.seeds:
        start = time.process_time()
        judge = train_digit_judge(x_train, y_train, seed=seed)
        seconds.append(time.process_time() - start)
        card = report_card(judge, x_test, y_test)
        cards.append(card)
        print(f"--- judge seed {seed}: trained in {seconds[-1]:.2f} s CPU (one thread)")
        print(format_report_card(card))
        for name, images in samples.items():
            shares[name][0].append(judged_digits(judge, images, presented=False))
            shares[name][1].append(judged_digits(judge, images))
        reference = x_train[torch.randperm(len(x_train), generator=torch.Generator().manual_seed(seed))[:n]]
        for name, images in set_groups.items():
            for key, value in set_scores(judge, reference, images).items():
                set_values[name][key].append(value)
        if generated is not None:
            for name, images, labels in (("real test digits", x_test, y_test), ("CVAE generated", generated, wanted)):
                requested[name][0].append(judged_as_requested(judge, images, labels, presented=False).float().mean()
                                          .item())
                requested[name][1].append(judged_as_requested(judge, images, labels).float().mean().item())

    print(f"\n=== over judge seeds {args.seeds} (mean ± SE); training {statistics.mean(seconds):.2f} ± "
          f"{statistics.stdev(seconds) if len(seconds) > 1 else 0:.2f} s CPU")
    for key in ("real_digits_raw", "real_digits_presented", "real_accuracy_raw", "real_accuracy_presented",
                "blur_fpr_training_kind"):
        print(f"{key:28s} {_mean_sd([c[key] for c in cards])}")
    print("held-out FPR (share judged a digit)   presented            raw")
    for kind in HELD_OUT_KINDS:
        print(f"  {kind:28s} {_mean_sd([c['held_out_fpr'][kind] for c in cards])}   "
              f"{_mean_sd([c['held_out_fpr_raw'][kind] for c in cards])}")
    print("decoded random codes judged digits      raw                  presented")
    for name, (raw, matched) in shares.items():
        print(f"  {name:44s} {_mean_sd(raw)}   {_mean_sd(matched)}")
    print("set level, presented, vs 500 training digits: judged digits, precision, recall (mean ± SE)")
    for name, values in set_values.items():
        print(f"  {name:44s} " + "  ".join(_mean_sd(values[key]) for key in ("judged_digits", "precision", "recall")))
    if generated is not None:
        print("judged as the requested class (07)      raw                  presented")
        for name, (raw, matched) in requested.items():
            print(f"  {name:44s} {_mean_sd(raw)}   {_mean_sd(matched)}")


if __name__ == "__main__":
    main()
