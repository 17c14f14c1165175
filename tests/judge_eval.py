"""Measure the digit judge (`python -m tests.judge_eval [--seeds 0 1 2] [--quick-ae]`): its report card per training
seed (mean ± SE), training time on one CPU thread, and for the shipped VAEs, a quick autoencoder (box codes, as in
notebook 05) and a quick conditional VAE (as in notebook 07) the share of decoded random codes judged digits at the
raw and at the matched presentation (`helpers.judge.present`)."""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from helpers import beyond, models, pretrained
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
from helpers.training import fit


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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--ae-epochs", type=int, default=20, help="0 skips the quick autoencoder")
    parser.add_argument("--cvae-epochs", type=int, default=10, help="0 skips the quick conditional VAE")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    x_train, y_train = load_mnist("train")
    x_test, y_test = load_mnist("test")

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
