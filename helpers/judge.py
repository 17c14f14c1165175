"""A digit judge that is not the model being judged: a small MLP classifier of the bundled digits.

It answers "does this image look like a digit, and which?" with its confidence: the largest probability it gives to
one of the ten digit classes. A plain classifier is fooled by blobs (the mean digit gets ~0.8 confidence from a
10-class MLP), so the judge has an eleventh class, "not a digit", trained on images made from the training digits
that are not digits: blends of two different digits, heavily blurred digits, the mean of many digits, and noise.
Notebooks report those baselines beside every score.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from helpers import validate

__all__ = ["DigitJudge", "train_digit_judge", "gaussian_blur", "non_digits"]

N_CLASSES = 10  # digit classes; index 10 is "not a digit"
NOT_A_DIGIT = N_CLASSES


class DigitJudge(nn.Module):
    """784 → hidden → 11 logits (10 digits + "not a digit"), ReLU; `confidence(x)` = max over digits of softmax."""

    def __init__(self, hidden: int = 256) -> None:
        super().__init__()
        if not isinstance(hidden, int) or isinstance(hidden, bool) or hidden < 1:
            raise ValueError(f"hidden must be a positive int, got {hidden!r}")
        self.net = nn.Sequential(nn.Linear(784, hidden), nn.ReLU(), nn.Linear(hidden, N_CLASSES + 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(_as_batch(images, self._device()))

    def _device(self) -> torch.device:
        return next(self.parameters()).device

    @torch.no_grad()
    def probabilities(self, images: torch.Tensor) -> torch.Tensor:
        """softmax(logits), shape (N, 11): ten digit classes, then "not a digit"; on the CPU."""
        was_training = self.training
        self.eval()
        probs = F.softmax(self(images), dim=1).cpu()
        self.train(was_training)
        return probs

    def confidence(self, images: torch.Tensor) -> torch.Tensor:
        """max over digits c of p(c | x): near 1 for a clear digit, low for a blob or a blend; shape (N,)."""
        return self.probabilities(images)[:, :N_CLASSES].max(dim=1).values

    def predict(self, images: torch.Tensor) -> torch.Tensor:
        """argmax_c p(c | x) over the eleven classes (10 = "not a digit"), shape (N,)."""
        return self.probabilities(images).argmax(dim=1)


def _as_batch(images, device) -> torch.Tensor:
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"images must be a torch.Tensor, got {type(images).__name__}")
    if images.ndim == 3 and images.shape[1:] == (28, 28):
        images = images.reshape(len(images), 784)
    if images.ndim != 2 or images.shape[1] != 784 or len(images) == 0:
        raise ValueError(f"images must have shape (N, 784) or (N, 28, 28) with N ≥ 1, got {tuple(images.shape)}")
    images = images.to(device=device, dtype=torch.float32)
    if not torch.isfinite(images).all() or images.min() < -1e-4 or images.max() > 1 + 1e-4:
        raise ValueError("images must be finite pixel intensities in [0, 1]")
    return images.clamp(0, 1)


def gaussian_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Blur (N, 784) images with a Gaussian of `sigma` pixels (separable, zero padding); returns (N, 784)."""
    if not isinstance(sigma, (int, float)) or isinstance(sigma, bool) or not 0 < sigma <= 10:
        raise ValueError(f"sigma must be a number in (0, 10] pixels, got {sigma!r}")
    x = _as_batch(images, images.device).reshape(-1, 1, 28, 28)
    radius = int(3 * sigma + 0.5)
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    kernel = (kernel / kernel.sum()).to(x.device)
    x = F.conv2d(x, kernel.view(1, 1, 1, -1), padding=(0, radius))
    x = F.conv2d(x, kernel.view(1, 1, -1, 1), padding=(radius, 0))
    return x.reshape(-1, 784).clamp(0, 1)


def non_digits(images: torch.Tensor, labels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """As many non-digit images as digits, in four equal kinds: blends of two different digits (weights 0.35–0.65),
    digits blurred with σ = 2–3 px, means of 5–50 random digits, and uniform noise dimmed to a digit's ink."""
    n = len(images)
    quarter = -(-n // 4)
    first = torch.randint(n, (quarter,), generator=generator)
    second = torch.randint(n, (quarter,), generator=generator)
    second = torch.where(labels[first] == labels[second], (second + 1) % n, second)
    weight = 0.35 + 0.3 * torch.rand(quarter, 1, generator=generator)
    blends = weight * images[first] + (1 - weight) * images[second]
    blurred = torch.cat([gaussian_blur(images[torch.randint(n, (quarter // 2 + 1,), generator=generator)], s)
                         for s in (2.0, 3.0)])[:quarter]
    means = torch.stack([images[torch.randint(n, (int(k),), generator=generator)].mean(0)
                         for k in torch.randint(5, 51, (quarter,), generator=generator)])
    noise = torch.rand(quarter, 784, generator=generator) * images.mean() * 2
    return torch.cat([blends, blurred, means, noise.clamp(0, 1)])


def train_digit_judge(images: torch.Tensor, labels: torch.Tensor, *, seed: int = 0, epochs: int = 12,
                      batch_size: int = 256, hidden: int = 256) -> DigitJudge:
    """Fit a DigitJudge by Adam on cross-entropy over the digits (labels 0–9) and as many `non_digits` (label 10)."""
    x = _as_batch(images, torch.device("cpu"))
    if not isinstance(labels, torch.Tensor) or labels.shape != (len(x),):
        raise ValueError(f"labels must be a tensor of shape ({len(x)},), got {getattr(labels, 'shape', labels)!r}")
    if labels.dtype.is_floating_point or labels.min() < 0 or labels.max() >= N_CLASSES:
        raise ValueError(f"labels must be integer classes 0..{N_CLASSES - 1}")
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    generator = torch.Generator().manual_seed(validate.seed(seed))
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        judge = DigitJudge(hidden)
    labels = labels.long()
    negatives = non_digits(x, labels, generator)
    x = torch.cat([x, negatives])
    labels = torch.cat([labels, torch.full((len(negatives),), NOT_A_DIGIT)])
    optimizer = torch.optim.Adam(judge.parameters(), lr=2e-3, weight_decay=1e-4)
    for _ in range(epochs):
        for index in torch.randperm(len(x), generator=generator).split(batch_size):
            optimizer.zero_grad(set_to_none=True)
            F.cross_entropy(judge(x[index]), labels[index]).backward()
            optimizer.step()
    return judge.eval()
