"""A digit judge that is not the model being judged: a small MLP classifier of the bundled digits.

It answers "does this image look like a digit, and which?": its prediction over eleven classes, the ten digits and
"not a digit", and its confidence, the largest probability it gives to one of the ten digits. A plain classifier is
fooled by blobs (the mean digit gets ~0.8 confidence from a 10-class MLP) and by sharp fragments (the judge before
issue 29 accepted 67 % of top/bottom chimeras of two digits), so the eleventh class is trained on images made from the
training digits that are not digits (`TRAINING_KINDS`): soft ones (blends of two different digits, blurred digits,
means of many digits, noise) and sharp ones (top/bottom and left/right chimeras of two digits of different classes,
digits cut into 7×7 patches and shuffled, digits with half their strokes erased, thresholded smooth noise, scattered
straight strokes).

Whether it can be fooled is measured on kinds of non-digits it never saw (`HELD_OUT_KINDS`, made by
`held_out_non_digits` from the test digits): rotations by 60–120°, shuffled 14×14 quadrants, outputs of untrained
decoders, two disconnected blobs, a digit overlaid with its mirror image, and class-mean prototypes. `report_card`
gives their false-positive rates (the share judged a digit) beside the acceptance of real test digits; notebooks print
them beside every score. A judge that is fooled by some kind is still a measurement, with that kind's rate as its
error bar.

Images are compared at one presentation: `present` thresholds pixel intensities (a model's Bernoulli means, or grey
test digits) at 0.5, so that real digits, autoencoder outputs and VAE outputs are judged the same way. The judge is
trained on digits at both presentations (grey and thresholded).

No per-image judge can reject class-mean prototypes once thresholded: they look like clean thick digits. What is
wrong with them is the set: ten prototypes, no variety. `set_scores` adds the set-level measure, improved precision
and recall (Kynkäänniemi et al., 2019) in the judge's feature space against real training digits: precision is the
share of the samples that land among real digits, recall the share of real digits the samples cover. Held-out real
test digits, at the same set size, are the baseline; class means get a recall near 0.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from helpers import validate

__all__ = ["DigitJudge", "train_digit_judge", "gaussian_blur", "non_digits", "present", "held_out_non_digits",
           "judged_digits", "judged_as_requested", "report_card", "format_report_card", "NOT_A_DIGIT",
           "TRAINING_KINDS", "HELD_OUT_KINDS", "PRESENTATION_THRESHOLD", "precision_recall", "set_scores",
           "set_baselines"]

N_CLASSES = 10  # digit classes; index 10 is "not a digit"
NOT_A_DIGIT = N_CLASSES
PRESENTATION_THRESHOLD = 0.5
BLUR_SIGMAS = (1.5, 2.0, 3.0)  # pixels: the blurred digits among the training non-digits
# Kinds of non-digits the judge is trained on (label 10), in the order `non_digits` returns them.
SOFT_KINDS = ("blend", "blur", "mean", "noise")
SHARP_KINDS = ("chimera_top_bottom", "chimera_left_right", "scrambled_7x7", "fragment", "noise_blobs", "strokes")
TRAINING_KINDS = SOFT_KINDS + SHARP_KINDS
# Kinds never produced for training: their false-positive rate measures fakes the judge has not seen.
HELD_OUT_KINDS = ("rotated", "quadrants_14x14", "untrained_decoder", "two_blobs", "mirror_overlay", "class_mean")
# Rotations are by 60–120° either way, never near 180°: a 6 turned by 180° is a 9, and 0, 1, 8 (and a 2 or a 5
# written in seven-segment style) read as themselves. A 0 turned by 90° is still an oval, a 1 a dash: classes 0, 1
# and 8 are left out. Overlaid with its mirror image a 0, 1 or 8 is itself and a 3 becomes an 8: left out too.
ROTATED_CLASSES = (2, 3, 4, 5, 6, 7, 9)
MIRRORED_CLASSES = (2, 4, 5, 6, 7, 9)


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

    @torch.no_grad()
    def features(self, images: torch.Tensor) -> torch.Tensor:
        """The hidden layer's activations (N, hidden), on the CPU: the feature space of `precision_recall`."""
        was_training = self.training
        self.eval()
        out = self.net[:2](_as_batch(images, self._device())).cpu()
        self.train(was_training)
        return out

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
    images = images.detach().to(device=device, dtype=torch.float32)
    if not torch.isfinite(images).all() or images.min() < -1e-4 or images.max() > 1 + 1e-4:
        raise ValueError("images must be finite pixel intensities in [0, 1]")
    return images.clamp(0, 1)


def present(images: torch.Tensor, threshold: float = PRESENTATION_THRESHOLD) -> torch.Tensor:
    """One presentation for every image before judging: pixels above `threshold` on (1), the others off (0).

    Pass a model's Bernoulli means sigmoid(logits) or grey test digits; both come out as sharp 0/1 images of shape
    (N, 784) on the CPU, so real digits, autoencoder outputs and VAE outputs are compared the same way."""
    if not isinstance(threshold, (int, float)) or isinstance(threshold, bool) or not 0 < threshold < 1:
        raise ValueError(f"threshold must be a number in (0, 1), got {threshold!r}")
    return (_as_batch(images, torch.device("cpu")) > threshold).float()


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


# ---------------------------------------------------------------------------------------------------------------
# Non-digits for training (label 10)


def _pairs_of_different_digits(labels: torch.Tensor, count: int, generator: torch.Generator):
    n = len(labels)
    first = torch.randint(n, (count,), generator=generator)
    second = torch.randint(n, (count,), generator=generator)
    for _ in range(20):  # redraw the partner of a same-class pair
        same = labels[first] == labels[second]
        if not same.any():
            break
        second[same] = torch.randint(n, (int(same.sum()),), generator=generator)
    return first, second


def _chimeras(sharp: torch.Tensor, labels: torch.Tensor, count: int, generator: torch.Generator,
              rows: bool) -> torch.Tensor:
    """The top (or left) part of one digit above (beside) the rest of a digit of another class; cut at 10–18 px."""
    first, second = _pairs_of_different_digits(labels, count, generator)
    cut = torch.randint(10, 19, (count, 1, 1), generator=generator)
    index = torch.arange(28)
    keep_first = (index.view(1, 28, 1) if rows else index.view(1, 1, 28)) < cut
    a, b = sharp[first].view(-1, 28, 28), sharp[second].view(-1, 28, 28)
    return torch.where(keep_first, a, b).reshape(-1, 784)


def _shuffled_patches(images: torch.Tensor, patch: int, generator: torch.Generator) -> torch.Tensor:
    """Cut each 28×28 image into (28 / patch)² square patches and put them back in a random order (never the same)."""
    k = 28 // patch
    n = len(images)
    tiles = images.view(n, k, patch, k, patch).permute(0, 1, 3, 2, 4).reshape(n, k * k, patch * patch)
    order = torch.rand(n, k * k, generator=generator).argsort(dim=1)
    identity = (order == torch.arange(k * k)).all(dim=1)
    order[identity] = order[identity].roll(1, dims=1)
    tiles = tiles.gather(1, order.unsqueeze(-1).expand(-1, -1, patch * patch))
    return tiles.view(n, k, k, patch, patch).permute(0, 1, 3, 2, 4).reshape(n, 784)


def _fragments(sharp: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Each digit with the ink on one side of a random line through its centre of ink erased (about half the
    strokes), plus a random disk of radius 3–6 px erased."""
    n = len(sharp)
    x = sharp.view(n, 28, 28)
    grid = torch.arange(28, dtype=torch.float32)
    rows, cols = grid.view(1, 28, 1), grid.view(1, 1, 28)
    ink = x.sum(dim=(1, 2)).clamp_min(1)
    cy = (x * rows).sum(dim=(1, 2)) / ink
    cx = (x * cols).sum(dim=(1, 2)) / ink
    angle = 2 * math.pi * torch.rand(n, generator=generator)
    shift = 4 * torch.rand(n, generator=generator) - 2
    side = ((rows - cy.view(-1, 1, 1)) * angle.cos().view(-1, 1, 1)
            + (cols - cx.view(-1, 1, 1)) * angle.sin().view(-1, 1, 1)) > shift.view(-1, 1, 1)
    dy, dx = 14 + 12 * torch.rand(n, generator=generator) - 6, 14 + 12 * torch.rand(n, generator=generator) - 6
    radius = 3 + 3 * torch.rand(n, generator=generator)
    disk = (rows - dy.view(-1, 1, 1)) ** 2 + (cols - dx.view(-1, 1, 1)) ** 2 < radius.view(-1, 1, 1) ** 2
    return (x * ~(side | disk)).reshape(n, 784)


def _strokes(count: int, generator: torch.Generator) -> torch.Tensor:
    """One to four straight strokes (2–3.5 px wide, 4–16 px long) at random inside the central 20×20 pixels, each
    drawn apart from the others: scattered pen strokes that do not make a digit."""
    grid = torch.arange(28, dtype=torch.float32)
    points = torch.stack(torch.meshgrid(grid, grid, indexing="ij"), dim=-1).view(1, 784, 2)
    image = torch.zeros(count, 784, dtype=torch.bool)
    strokes = torch.randint(1, 5, (count,), generator=generator)
    for s in range(4):
        start = 4 + 20 * torch.rand(count, 1, 2, generator=generator)
        angle = 2 * math.pi * torch.rand(count, 1, generator=generator)
        length = 4 + 12 * torch.rand(count, 1, generator=generator)
        end = (start + length.unsqueeze(-1) * torch.stack([angle.cos(), angle.sin()], dim=-1)).clamp(4, 23)
        width = 1.0 + 0.75 * torch.rand(count, 1, generator=generator)
        along = end - start
        t = (((points - start) * along).sum(-1) / (along * along).sum(-1).clamp_min(1e-6)).clamp(0, 1)
        distance = (points - start - t.unsqueeze(-1) * along).norm(dim=-1)
        image |= (distance <= width) & (s < strokes).view(-1, 1)
    return image.float()


def _noise_blobs(count: int, ink: float, generator: torch.Generator) -> torch.Tensor:
    """Uniform noise blurred with σ = 1.5–2.5 px and thresholded so that about a digit's share of the central 20×20
    pixels is on: irregular sharp blobs."""
    noise = torch.rand(count, 784, generator=generator)
    sigma = (1.5, 2.0, 2.5)
    smooth = torch.cat([gaussian_blur(part, s) for part, s in zip(noise.chunk(3), sigma)])
    window = torch.zeros(28, 28)
    window[4:24, 4:24] = 1
    smooth = smooth * window.view(1, 784) + (window.view(1, 784) - 1)  # outside the window: never on
    share = (ink * (0.3 + 1.1 * torch.rand(count, 1, generator=generator))).clamp(0.02, 0.5)
    on = (share * 400).long().clamp(1, 399)  # pixels to switch on, of the 400 in the window
    cut = smooth.sort(dim=1, descending=True).values.gather(1, on)
    return (smooth > cut).float()


def non_digits(images: torch.Tensor, labels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """As many non-digit images as digits, in equal shares of each of `TRAINING_KINDS`, in that order.

    Soft: blends of two different digits (weights 0.35–0.65), digits blurred with σ = 1.5, 2 or 3 px, means of 5–50
    random digits, uniform noise dimmed to a digit's ink. Sharp (made from the digits thresholded by `present`):
    top/bottom and left/right chimeras of two digits of different classes, digits cut into sixteen 7×7 patches shuffled,
    digits with about half their strokes erased, thresholded smooth noise, one to four scattered straight strokes."""
    n = len(images)
    x = _as_batch(images, torch.device("cpu"))
    per_kind = -(-n // len(TRAINING_KINDS))
    first, second = _pairs_of_different_digits(labels, per_kind, generator)
    weight = 0.35 + 0.3 * torch.rand(per_kind, 1, generator=generator)
    blends = weight * x[first] + (1 - weight) * x[second]
    each = per_kind // len(BLUR_SIGMAS) + 1
    blurred = torch.cat([gaussian_blur(x[torch.randint(n, (each,), generator=generator)], s)
                         for s in BLUR_SIGMAS])[:per_kind]
    means = torch.stack([x[torch.randint(n, (int(k),), generator=generator)].mean(0)
                         for k in torch.randint(5, 51, (per_kind,), generator=generator)])
    noise = (torch.rand(per_kind, 784, generator=generator) * x.mean() * 2).clamp(0, 1)
    sharp = present(x)
    top_bottom = _chimeras(sharp, labels, per_kind, generator, rows=True)
    left_right = _chimeras(sharp, labels, per_kind, generator, rows=False)
    scrambled = _shuffled_patches(sharp[torch.randint(n, (per_kind,), generator=generator)], 7, generator)
    fragments = _fragments(sharp[torch.randint(n, (per_kind,), generator=generator)], generator)
    blobs = _noise_blobs(per_kind, float(sharp.mean()) * 784 / 400, generator)
    kinds = [blends, blurred, means, noise, top_bottom, left_right, scrambled, fragments, blobs,
             _strokes(per_kind, generator)]
    return torch.cat(kinds)[:n]


# ---------------------------------------------------------------------------------------------------------------
# Held-out non-digits: never used in training; their false-positive rate is the honest measure


def _rotated(sharp: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    n = len(sharp)
    degrees = 60 + 60 * torch.rand(n, generator=generator)
    sign = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)
    theta = torch.deg2rad(degrees) * sign
    cos, sin = theta.cos(), theta.sin()
    affine = torch.stack([torch.stack([cos, -sin, torch.zeros(n)], 1), torch.stack([sin, cos, torch.zeros(n)], 1)], 1)
    grid = F.affine_grid(affine, (n, 1, 28, 28), align_corners=False)
    turned = F.grid_sample(sharp.view(n, 1, 28, 28), grid, align_corners=False)
    return present(turned.reshape(n, 784).clamp(0, 1))


def _untrained_decoder_outputs(count: int, generator: torch.Generator) -> torch.Tensor:
    """sigmoid(decoder(z)), z ~ N(0, I), from freshly initialised helpers.models VAE decoders (m = 16, 400 hidden)."""
    from helpers.models import VAE  # here: helpers.models is not needed to judge

    outputs = []
    seeds = torch.randint(2**31 - 1, (5,), generator=generator).tolist()
    for part, seed in zip(range(5), seeds):
        size = count // 5 + (part < count % 5)
        if size == 0:
            continue
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            decoder = VAE(latent_dim=16).decoder
        with torch.no_grad():
            outputs.append(torch.sigmoid(decoder(torch.randn(size, 16, generator=generator))))
    return torch.cat(outputs)


def _two_blobs(count: int, generator: torch.Generator) -> torch.Tensor:
    """Two filled ellipses (semi-axes 2–5 px) inside the central 20×20 pixels, at least 2 px apart."""
    grid = torch.arange(28, dtype=torch.float32)
    rows, cols = grid.view(1, 28, 1), grid.view(1, 1, 28)
    image = torch.zeros(count, 28, 28, dtype=torch.bool)
    axes = 2 + 3 * torch.rand(count, 2, 2, generator=generator)  # (blob, [vertical, horizontal])
    centres = torch.empty(count, 2, 2)
    for blob in range(2):
        centres[:, blob] = 4 + axes[:, blob] + (20 - 2 * axes[:, blob]) * torch.rand(count, 2, generator=generator)
    for _ in range(50):  # redraw the second blob until the two are apart
        gap = (centres[:, 0] - centres[:, 1]).norm(dim=1) - axes.max(dim=2).values.sum(dim=1)
        close = gap < 2
        if not close.any():
            break
        centres[close, 1] = 4 + axes[close, 1] + (20 - 2 * axes[close, 1]) * torch.rand(int(close.sum()), 2,
                                                                                       generator=generator)
    keep = ~close
    for blob in range(2):
        cy, cx = centres[:, blob, 0].view(-1, 1, 1), centres[:, blob, 1].view(-1, 1, 1)
        ay, ax = axes[:, blob, 0].view(-1, 1, 1), axes[:, blob, 1].view(-1, 1, 1)
        image |= ((rows - cy) / ay) ** 2 + ((cols - cx) / ax) ** 2 <= 1
    return image[keep].reshape(-1, 784).float()


def _class_means(images: torch.Tensor, labels: torch.Tensor, count: int, generator: torch.Generator):
    """Means of 10–60 random digits of one class (the class mean, from a sample): grey prototypes."""
    means = []
    classes = torch.randint(N_CLASSES, (count,), generator=generator)
    for c in classes.tolist():
        pool = torch.nonzero(labels == c).flatten()
        if len(pool) == 0:
            continue
        k = min(len(pool), int(torch.randint(10, 61, (1,), generator=generator)))
        means.append(images[pool[torch.randperm(len(pool), generator=generator)[:k]]].mean(0))
    return torch.stack(means)


def held_out_non_digits(images: torch.Tensor, labels: torch.Tensor, *, n: int = 500,
                        seed: int = 0) -> dict[str, torch.Tensor]:
    """{kind: up to n images} for each of `HELD_OUT_KINDS`, made from `images` (use test digits, never the training
    digits). Every kind is sharp (0/1 pixels) except the untrained-decoder outputs and the class means, which are
    grey like a model's Bernoulli means: judge them at both presentations.

    rotated: digits of classes 2–7 or 9 turned by 60–120° either way (`ROTATED_CLASSES`); quadrants_14x14: the four
    14×14 quadrants of a digit in a random non-identity order; untrained_decoder: see `_untrained_decoder_outputs`;
    two_blobs: two disconnected ellipses; mirror_overlay: a digit of class 2, 4–7 or 9 overlaid (max) with its
    left-right mirror image (`MIRRORED_CLASSES`); class_mean: means of 10–60 digits of one class."""
    x = _as_batch(images, torch.device("cpu"))
    if not isinstance(labels, torch.Tensor) or labels.shape != (len(x),):
        raise ValueError(f"labels must be a tensor of shape ({len(x)},), got {getattr(labels, 'shape', labels)!r}")
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    generator = torch.Generator().manual_seed(validate.seed(seed))
    sharp = present(x)

    def pick(classes=None):
        pool = torch.arange(len(x)) if classes is None else torch.nonzero(
            torch.isin(labels, torch.tensor(classes))).flatten()
        if len(pool) == 0:
            pool = torch.arange(len(x))
        return sharp[pool[torch.randint(len(pool), (n,), generator=generator)]]

    mirrored = pick(MIRRORED_CLASSES).view(n, 28, 28)
    return {
        "rotated": _rotated(pick(ROTATED_CLASSES), generator),
        "quadrants_14x14": _shuffled_patches(pick(), 14, generator),
        "untrained_decoder": _untrained_decoder_outputs(n, generator),
        "two_blobs": _two_blobs(n, generator),
        "mirror_overlay": torch.maximum(mirrored, mirrored.flip(2)).reshape(n, 784),
        "class_mean": _class_means(x, labels, n, generator),
    }


# ---------------------------------------------------------------------------------------------------------------
# Judging


def _check_judge(judge) -> None:
    if not isinstance(judge, DigitJudge):
        raise TypeError(f"judge must be a DigitJudge (train_digit_judge), got {type(judge).__name__}")


def judged_digits(judge: DigitJudge, images: torch.Tensor, *, presented: bool = True) -> float:
    """Share of `images` the judge calls a digit (predict ≠ NOT_A_DIGIT), after `present` unless presented=False."""
    _check_judge(judge)
    images = present(images) if presented else images
    return (judge.predict(images) != NOT_A_DIGIT).float().mean().item()


def judged_as_requested(judge: DigitJudge, images: torch.Tensor, labels: torch.Tensor, *,
                        presented: bool = True) -> torch.Tensor:
    """Per image: does the judge's answer over the eleven classes equal the requested digit `labels` (so never
    "not a digit")? A bool tensor of shape (N,); images pass through `present` unless presented=False."""
    _check_judge(judge)
    images = present(images) if presented else images
    if not isinstance(labels, torch.Tensor) or labels.shape != (len(images),):
        raise ValueError(f"labels must be a tensor of shape ({len(images)},), got "
                         f"{getattr(labels, 'shape', labels)!r}")
    if labels.dtype.is_floating_point or labels.min() < 0 or labels.max() >= N_CLASSES:
        raise ValueError(f"labels must be integer digit classes 0..{N_CLASSES - 1}")
    return judge.predict(images) == labels.cpu().long()


def report_card(judge: DigitJudge, images: torch.Tensor, labels: torch.Tensor, *, n: int = 500,
                seed: int = 0) -> dict:
    """The judge's report card on held-out real digits `images`, `labels` (the test digits, grey):

    real_digits_raw / real_digits_presented: share judged a digit (any class), as given and after `present`;
    real_accuracy_raw / real_accuracy_presented: share judged the right digit;
    held_out_fpr: {kind: share judged a digit} for each of `HELD_OUT_KINDS` after `present` (the matched
    presentation); held_out_fpr_raw: the same as given (differs only for the grey kinds);
    blur_fpr_training_kind: blurred test digits (σ = 2 px) judged digits, raw. Blur is one of the training kinds,
    so this is a check that training worked, not a test of unseen fakes."""
    _check_judge(judge)
    x = _as_batch(images, torch.device("cpu"))
    labels = labels.cpu()
    fakes = held_out_non_digits(x, labels, n=n, seed=seed)
    return {
        "real_digits_raw": judged_digits(judge, x, presented=False),
        "real_digits_presented": judged_digits(judge, x),
        "real_accuracy_raw": judged_as_requested(judge, x, labels, presented=False).float().mean().item(),
        "real_accuracy_presented": judged_as_requested(judge, x, labels).float().mean().item(),
        "held_out_fpr": {kind: judged_digits(judge, fake) for kind, fake in fakes.items()},
        "held_out_fpr_raw": {kind: judged_digits(judge, fake, presented=False) for kind, fake in fakes.items()},
        "blur_fpr_training_kind": judged_digits(judge, gaussian_blur(x, 2.0), presented=False),
    }


def format_report_card(card: dict) -> str:
    """`report_card` as a few printable lines."""
    if not isinstance(card, dict) or not {"held_out_fpr", "held_out_fpr_raw"} <= set(card):
        raise TypeError(f"card must be the dict report_card returns, got {type(card).__name__}")
    lines = [f"judge on real test digits: judged digits {card['real_digits_raw']:.1%} raw, "
             f"{card['real_digits_presented']:.1%} presented; right class {card['real_accuracy_raw']:.1%} raw, "
             f"{card['real_accuracy_presented']:.1%} presented",
             "false positives on held-out fakes (never in training), presented (raw):"]
    lines += [f"  {kind:18s} {fpr:5.1%} ({card['held_out_fpr_raw'][kind]:.1%})"
              for kind, fpr in card["held_out_fpr"].items()]
    lines.append(f"blurred digits (σ = 2 px; a training kind, not a test): {card['blur_fpr_training_kind']:.1%}")
    return "\n".join(lines)


def train_digit_judge(images: torch.Tensor, labels: torch.Tensor, *, seed: int = 0, epochs: int = 18,
                      batch_size: int = 256, hidden: int = 256) -> DigitJudge:
    """Fit a DigitJudge by Adam on cross-entropy over the digits (labels 0–9) and as many `non_digits` (label 10).

    Each epoch shows every digit once, half of them (at random) thresholded by `present`, so the judge knows digits
    at both presentations."""
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
    grey = torch.cat([x, negatives])
    sharp = torch.cat([present(x), negatives])
    labels = torch.cat([labels, torch.full((len(negatives),), NOT_A_DIGIT)])
    optimizer = torch.optim.Adam(judge.parameters(), lr=2e-3, weight_decay=1e-4)
    for _ in range(epochs):
        shown = torch.where((torch.rand(len(grey), 1, generator=generator) < 0.5), sharp, grey)
        for index in torch.randperm(len(shown), generator=generator).split(batch_size):
            optimizer.zero_grad(set_to_none=True)
            F.cross_entropy(judge(shown[index]), labels[index]).backward()
            optimizer.step()
    return judge.eval()


# ---------------------------------------------------------------------------------------------------------------
# Set level: improved precision and recall (Kynkäänniemi et al. 2019)


def _kth_neighbour_radii(points: torch.Tensor, k: int) -> torch.Tensor:
    distances = torch.cdist(points, points)
    return distances.kthvalue(k + 1, dim=1).values  # k + 1: each point is its own nearest neighbour


def precision_recall(reference: torch.Tensor, samples: torch.Tensor, *, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall of `samples` against `reference`, two sets of feature vectors (N, d).

    Each set is a union of balls, one around each of its points with the distance to its k-th nearest neighbour in
    its own set as radius. precision: share of samples inside the reference's balls (are the samples like real
    digits?); recall: share of reference points inside the samples' balls (do the samples cover the real digits?).
    A set of near copies (class means, one prototype per class) can have precision near 1 but its balls are tiny,
    so its recall is low. Compare sets of equal size: both numbers depend on it."""
    for name, value in (("reference", reference), ("samples", samples)):
        if not isinstance(value, torch.Tensor) or value.ndim != 2 or len(value) <= k:
            raise ValueError(f"{name} must be a (N, d) tensor with N > k, got {getattr(value, 'shape', value)!r}")
        if not torch.isfinite(value).all():
            raise ValueError(f"{name} must be finite")
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ValueError(f"k must be a positive int, got {k!r}")
    if reference.shape[1] != samples.shape[1]:
        raise ValueError(f"samples must have {reference.shape[1]} features like reference, got {samples.shape[1]}")
    reference, samples = reference.double(), samples.double()
    across = torch.cdist(samples, reference)  # (samples, reference)
    precision = (across <= _kth_neighbour_radii(reference, k).view(1, -1)).any(dim=1).double().mean().item()
    recall = (across <= _kth_neighbour_radii(samples, k).view(-1, 1)).any(dim=0).double().mean().item()
    return precision, recall


def set_scores(judge: DigitJudge, reference: torch.Tensor, samples: torch.Tensor, *, k: int = 3) -> dict:
    """Precision and recall of the images `samples` against the real digits `reference` in the judge's feature space,
    both at the matched presentation (`present`), and the share judged digits: {"judged_digits", "precision",
    "recall"}. Use as many samples as reference digits (training digits), and score held-out real digits the same
    way as the baseline."""
    _check_judge(judge)
    shown_reference, shown = present(reference), present(samples)
    precision, recall = precision_recall(judge.features(shown_reference), judge.features(shown), k=k)
    return {"judged_digits": judged_digits(judge, shown, presented=False), "precision": precision, "recall": recall}


def set_baselines(train_images: torch.Tensor, test_images: torch.Tensor, test_labels: torch.Tensor, *, n: int = 500,
                  seed: int = 0) -> dict[str, torch.Tensor]:
    """n images of each baseline for `set_scores`, made from the test digits (the training digits give only the mean
    image): {"real test digits", "blurred test digits (σ = 1.5 px)", "class means", "top/bottom chimeras",
    "mean image"}. Real digits set the scale; each of the others is a trivial answer a measure must not pass."""
    x = _as_batch(test_images, torch.device("cpu"))
    if not isinstance(test_labels, torch.Tensor) or test_labels.shape != (len(x),):
        raise ValueError(f"test_labels must be a tensor of shape ({len(x)},), got "
                         f"{getattr(test_labels, 'shape', test_labels)!r}")
    if not isinstance(n, int) or isinstance(n, bool) or not 3 < n <= len(x):
        raise ValueError(f"n must be an int in 4..{len(x)}, got {n!r}")
    generator = torch.Generator().manual_seed(validate.seed(seed))
    real = x[torch.randperm(len(x), generator=generator)[:n]]
    mean = _as_batch(train_images, torch.device("cpu")).mean(dim=0, keepdim=True)
    return {"real test digits": real, "blurred test digits (σ = 1.5 px)": gaussian_blur(real, 1.5),
            "class means": _class_means(x, test_labels.cpu(), n, generator),
            "top/bottom chimeras": _chimeras(present(x), test_labels.cpu(), n, generator, rows=True),
            "mean image": mean.expand(n, 784).clone()}
