"""The latent-space explorers of notebook 06: sliders that decode z live and update images in place.

Every explorer shows its pictures in `ipywidgets.Image` widgets fed PNG bytes. A slider move decodes one z and
encodes one small PNG. The 2-D latent map is rendered once with matplotlib's Agg canvas and reduced to a 256-colour
palette; a move only stamps the cross at the pixel of z on a copy of it. No figure is ever redrawn, and an update
takes a few milliseconds. Each explorer records how long its updates took (`timings_ms`).
"""

from __future__ import annotations

import contextlib
import io
import struct
import time
import zlib
from collections.abc import Iterator, Sequence

import ipywidgets as widgets
import numpy as np
import torch
from ipywidgets.widgets.widget_string import HTMLStyle
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PatchCollection
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from PIL import Image as PILImage

from helpers import validate
from helpers.beyond import ACTIVE_VARIANCE, active_mask
from helpers.objectives import kl_normal
from helpers.plotting import latent_scatter

__all__ = [
    "decode_mean",
    "encode_mean",
    "kl_per_dimension",
    "posterior_boxes",
    "interpolate",
    "to_png",
    "read_png",
    "LatentExplorer2D",
    "EncodeEditExplorer",
    "InterpolationExplorer",
    "median_update_ms",
]

SIDE = 28  # MNIST digits are 28 × 28
_GAP_RGB = (255, 255, 255)
_MARK_RGB = (214, 39, 40)
_BLACK, _WHITE = 254, 255  # palette entries kept for the cross on the latent map


# ---------------------------------------------------------------------------------------------- argument checks
def _check_model(model) -> None:
    for attribute in ("encode", "decode", "latent_dim"):
        if not hasattr(model, attribute):
            raise TypeError(f"model must be a VAE with encode, decode and latent_dim, got {type(model).__name__} "
                            f"without {attribute!r}")


def _check_int(name: str, value, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValueError(f"{name} must be an int in [{low}, {high}], got {value!r}")
    return value


def _positive(name: str, value) -> float:
    validate.finite(name, value)  # a complex number: TypeError
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 < value < float("inf"):
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return float(value)


def _check_images(x) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or x.ndim != 2 or x.shape[1] != SIDE * SIDE or len(x) < 2:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"x must be a torch.Tensor of shape (N >= 2, 784), got {shape}")
    return validate.unit_interval("x", x)  # finite, in [0, 1]: not 0–255 grey levels, not logits


def _as_numpy(name: str, value, ndim: int, finite: bool = True) -> np.ndarray:
    """A numpy view of a tensor/array with `ndim` dimensions; with `finite`, numbers without nan or inf."""
    array = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
    validate.finite(name, array)  # complex: TypeError, never cast to real
    if array.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {array.shape}")
    if finite and (not np.issubdtype(array.dtype, np.number) or not np.isfinite(array).all()):
        raise ValueError(f"{name} must hold finite numbers, got {array.dtype} values with nan, inf or non-numbers")
    return array


# --------------------------------------------------------------------------------------------- model plumbing
def _device(model) -> torch.device:
    try:
        return next(model.parameters()).device
    except (AttributeError, StopIteration):
        return torch.device("cpu")


@torch.no_grad()
def decode_mean(model, z) -> np.ndarray:
    """Bernoulli means sigmoid(g(z)) as float images (N, 28, 28) in [0, 1]; z of shape (m,) or (N, m)."""
    _check_model(model)
    validate.finite("z", z if isinstance(z, torch.Tensor) else np.asarray(z))  # complex: TypeError
    try:
        z = np.asarray(z.detach().cpu() if isinstance(z, torch.Tensor) else z, dtype=np.float32)
    except (TypeError, ValueError):
        raise TypeError(f"z must be an array of numbers, got {type(z).__name__}") from None
    if not np.isfinite(z).all():
        raise ValueError("z must hold finite numbers, got nan or inf (a slider or code gone wrong?)")
    z = torch.as_tensor(z).to(_device(model))
    if z.ndim == 1:
        z = z.unsqueeze(0)
    if z.ndim != 2 or z.shape[1] != model.latent_dim:
        raise ValueError(f"z must have shape (m,) or (N, m) with m = {model.latent_dim}, got {tuple(z.shape)}")
    return torch.sigmoid(model.decode(z)).reshape(-1, SIDE, SIDE).cpu().numpy()


@torch.no_grad()
def encode_mean(model, x: torch.Tensor, batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    """(μ(x), log σ²(x)) of q_φ(z|x) for every row of x, on the CPU, without gradients."""
    _check_model(model)
    x = _check_images(x)
    batch_size = validate.batch_size(batch_size)
    parts = [model.encode(batch.to(_device(model))) for batch in x.split(batch_size)]
    return torch.cat([mu for mu, _ in parts]).cpu(), torch.cat([logvar for _, logvar in parts]).cpu()


def kl_per_dimension(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Average over x of KL(q(z_j|x) || N(0, 1)) = ½ mean_x[μ_j² + σ_j² − log σ_j² − 1], one value per dimension j."""
    if not isinstance(mu, torch.Tensor) or not isinstance(logvar, torch.Tensor) or mu.shape != logvar.shape:
        raise ValueError("mu and logvar must be tensors of the same shape (N, m)")
    if mu.ndim != 2:
        raise ValueError(f"mu must have shape (N, m), got {tuple(mu.shape)}")
    return kl_normal(mu.unsqueeze(-1), logvar.unsqueeze(-1)).mean(dim=0)


def posterior_boxes(ax, mu, sigma, width: float = 2.0, **style) -> None:
    """Draw the box μ(x) ± width·σ(x) of q_φ(z|x) around each 2-D code: the region the decoder is trained on for x."""
    mu, sigma = _as_numpy("mu", mu, 2), _as_numpy("sigma", sigma, 2)
    if mu.shape != sigma.shape or mu.shape[1] != 2:
        raise ValueError(f"mu and sigma must both have shape (N, 2), got {mu.shape} and {sigma.shape}")
    if (sigma <= 0).any():
        raise ValueError("sigma must be positive (a standard deviation, not log σ²)")
    _positive("width", width)
    boxes = [Rectangle(tuple(centre - width * spread), *(2 * width * spread)) for centre, spread in zip(mu, sigma)]
    ax.add_collection(PatchCollection(boxes, **{"facecolor": "none", "edgecolor": "black", "linewidth": 0.6,
                                                **style}))


def interpolate(z_start, z_end, t) -> np.ndarray:
    """Linear path in latent space z(t) = (1 − t)·z_start + t·z_end, for a number or an array of t."""
    z_start, z_end = _as_numpy("z_start", z_start, 1), _as_numpy("z_end", z_end, 1)
    if z_start.shape != z_end.shape:
        raise ValueError(f"z_start and z_end must be vectors of one shape, got {z_start.shape} and {z_end.shape}")
    t = validate.finite("t", np.asarray(t))  # complex: TypeError
    if not np.issubdtype(t.dtype, np.number) or not np.isfinite(t).all():
        raise ValueError(f"t must be a finite number or an array of them, got {t!r}")
    z_start, z_end, t = z_start.astype(np.float32), z_end.astype(np.float32), t.astype(np.float32)
    return (1 - t)[..., None] * z_start + t[..., None] * z_end


# ---------------------------------------------------------------------------------------------------- PNG I/O
def _to_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(np.asarray(image, dtype=np.float64) * 255), 0, 255).astype(np.uint8)


def _upscale(pixels: np.ndarray, scale: int) -> np.ndarray:
    return pixels.repeat(scale, axis=0).repeat(scale, axis=1)


def _png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


def _encode_png(pixels: np.ndarray, palette: np.ndarray | None = None) -> bytes:
    """uint8 grey (H, W), RGB (H, W, 3) or palette indices (H, W) with a (256, 3) palette → PNG bytes.

    No row filter and zlib level 1: several times faster than Pillow's adaptive filtering, which is what keeps a
    slider update within a few milliseconds."""
    height, width = pixels.shape[:2]
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    rows = np.zeros((height, 1 + width * channels), dtype=np.uint8)  # each row starts with filter type 0
    rows[:, 1:] = pixels.reshape(height, -1)
    colour_type = 3 if palette is not None else {1: 0, 3: 2}[channels]
    chunks = [_png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0))]
    if palette is not None:
        chunks.append(_png_chunk(b"PLTE", np.asarray(palette, dtype=np.uint8).tobytes()))
    chunks += [_png_chunk(b"IDAT", zlib.compress(rows.tobytes(), 1)), _png_chunk(b"IEND", b"")]
    return b"\x89PNG\r\n\x1a\n" + b"".join(chunks)


def _to_palette(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """RGB pixels → (indices (H, W), palette (256, 3)): 254 median-cut colours, then black and white for the cross."""
    picture = PILImage.fromarray(np.ascontiguousarray(rgb)).quantize(
        colors=254, method=PILImage.Quantize.MEDIANCUT, dither=PILImage.Dither.NONE)
    palette = np.zeros((256, 3), dtype=np.uint8)
    colours = np.asarray(picture.getpalette()[: 3 * 254], dtype=np.uint8).reshape(-1, 3)
    palette[: len(colours)] = colours
    palette[_WHITE] = 255
    return np.asarray(picture).copy(), palette


def _cross_stamp(radius: int = 7) -> np.ndarray:
    """An × marker as palette indices: black diagonals with a white outline, −1 where the map shows through."""
    dy, dx = np.mgrid[-radius: radius + 1, -radius: radius + 1]
    to_diagonal = np.minimum(np.abs(dx - dy), np.abs(dx + dy)) / np.sqrt(2)
    stamp = np.full(dy.shape, -1, dtype=np.int16)
    stamp[to_diagonal <= 2.6] = _WHITE
    stamp[(to_diagonal <= 1.3) & (np.maximum(np.abs(dx), np.abs(dy)) <= radius - 1)] = _BLACK
    return stamp


_CROSS = _cross_stamp()


def _paste(indices: np.ndarray, centre: tuple[int, int], stamp: np.ndarray) -> None:
    """Write the stamp's non-negative entries into indices, centred at (row, column), clipped at the borders."""
    half = stamp.shape[0] // 2
    top, left = centre[0] - half, centre[1] - half
    rows = slice(max(top, 0), min(top + stamp.shape[0], indices.shape[0]))
    cols = slice(max(left, 0), min(left + stamp.shape[1], indices.shape[1]))
    if rows.start >= rows.stop or cols.start >= cols.stop:
        return
    patch = stamp[rows.start - top: rows.stop - top, cols.start - left: cols.stop - left]
    region = indices[rows, cols]
    region[patch >= 0] = patch[patch >= 0]


def to_png(image, scale: int = 6) -> bytes:
    """PNG bytes of a grey image in [0, 1] (H, W), each pixel shown as a scale × scale block (grey = round(255·p))."""
    image = _as_numpy("image", image, 2)
    if image.size == 0:
        raise ValueError(f"image must hold at least one pixel, got shape {image.shape}")
    validate.unit_interval("image", image)  # grey levels p in [0, 1], not 0–255
    _check_int("scale", scale, 1, 64)
    return _encode_png(_upscale(_to_uint8(image), scale))


def read_png(data: bytes, scale: int = 1) -> np.ndarray:
    """The pixels of PNG bytes as uint8 (H, W) or (H, W, C), keeping one pixel per scale × scale block."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be PNG bytes, got {type(data).__name__}")
    _check_int("scale", scale, 1, 64)
    try:
        with PILImage.open(io.BytesIO(bytes(data))) as picture:
            pixels = np.asarray(picture)
    except (OSError, SyntaxError, ValueError) as exc:  # PIL's UnidentifiedImageError is an OSError
        raise ValueError(f"data must be PNG bytes, got {len(data)} bytes that are not an image ({exc})") from None
    return pixels[::scale, ::scale]


# ------------------------------------------------------------------------------------------------ the explorers
class _Kit:
    """Widget factories whose widgets share one Layout and one style per kind.

    A notebook saved with widget state stores every model in full (a Layout alone is about 1 kB of defaults), so
    sharing them keeps the explorers' stored state small."""

    def __init__(self, description_width: str = "initial", slider_width: str | None = None) -> None:
        self.plain = widgets.Layout()
        self.centred = widgets.Layout(align_items="center")
        self.slider_layout = widgets.Layout(width=slider_width) if slider_width else self.plain
        self.slider_style = widgets.SliderStyle(description_width=description_width)
        self.html_style = HTMLStyle()

    def image(self, css_class: str) -> widgets.Image:
        image = widgets.Image(value=b"", format="png", layout=self.plain)
        image.add_class(css_class)
        return image

    def html(self, text: str = "") -> widgets.HTML:
        return widgets.HTML(text, layout=self.plain, style=self.html_style)

    def captioned(self, caption: str, child: widgets.Widget) -> widgets.VBox:
        return widgets.VBox([self.html(f"<b>{caption}</b>"), child], layout=self.centred)

    def hbox(self, children: Sequence[widgets.Widget]) -> widgets.HBox:
        return widgets.HBox(list(children), layout=self.plain)

    def vbox(self, children: Sequence[widgets.Widget]) -> widgets.VBox:
        return widgets.VBox(list(children), layout=self.plain)

    def float_slider(self, description: str, value: float, low: float, high: float, step: float,
                     continuous_update: bool) -> widgets.FloatSlider:
        return widgets.FloatSlider(
            value=float(np.clip(value, low, high)), min=low, max=high, step=step, description=description,
            continuous_update=continuous_update, readout_format=".2f", layout=self.slider_layout,
            style=self.slider_style)

    def int_slider(self, description: str, value: int, high: int) -> widgets.IntSlider:
        return widgets.IntSlider(value=value, min=0, max=high, description=description, continuous_update=False,
                                 layout=self.plain, style=self.slider_style)


class _Explorer:
    """Shared plumbing: the root widget, display, update timing, and pausing updates during batch changes."""

    ui: widgets.Box
    css_class = "vae-explorer"

    def __init__(self) -> None:
        self.timings_ms: list[float] = []
        self._paused = False

    def _repr_mimebundle_(self, **kwargs):
        return self.ui._repr_mimebundle_(**kwargs)

    @contextlib.contextmanager
    def _hold(self) -> Iterator[None]:
        self._paused = True
        try:
            with self.ui.hold_sync():
                yield
        finally:
            self._paused = False

    def _timed_update(self, change=None) -> None:
        if self._paused:
            return
        started = time.perf_counter()
        self._update()
        self.timings_ms.append(1000 * (time.perf_counter() - started))

    def _update(self) -> None:  # pragma: no cover - every explorer overrides it
        raise NotImplementedError

    def _finish(self, ui: widgets.Box) -> None:
        ui.add_class("vae-explorer")
        ui.add_class(self.css_class)
        self.ui = ui


class LatentExplorer2D(_Explorer):
    """Two sliders (z₁, z₂) → the decoded digit sigmoid(g(z)), beside the latent map with a marker at z."""

    css_class = "vae-explorer-2d"

    def __init__(self, model, z_map, labels, limit: float | None = None, step: float = 0.05, scale: int = 6,
                 continuous_update: bool = True, sigma=None, boxes: int = 60) -> None:
        super().__init__()
        _check_model(model)
        if model.latent_dim != 2:
            raise ValueError(f"model must have latent_dim 2 for the 2-D explorer, got {model.latent_dim}")
        z_map = _as_numpy("z_map", z_map, 2)
        labels = _as_numpy("labels", labels, 1)
        if z_map.shape[1] != 2 or len(z_map) != len(labels):
            raise ValueError(f"z_map must be (N, 2) with N labels, got {z_map.shape} and {labels.shape}")
        if limit is None:
            limit = max(3.0, float(np.ceil(2 * np.quantile(np.abs(z_map), 0.995)) / 2))
        self.model, self.scale, self.limit = model, _check_int("scale", scale, 1, 64), _positive("limit", limit)
        step, kit = _positive("step", step), _Kit()
        self.sliders = [kit.float_slider(f"z{i + 1}", 0.0, -self.limit, self.limit, step, continuous_update)
                        for i in range(2)]
        if sigma is not None:  # σ(x) of q_φ(z|x): boxes μ ± 2σ on the map for `boxes` evenly spaced codes
            sigma = _as_numpy("sigma", sigma, 2)
            if sigma.shape != z_map.shape:
                raise ValueError(f"sigma must have the shape of z_map {z_map.shape}, got {sigma.shape}")
            self.boxed = np.linspace(0, len(z_map) - 1, _check_int("boxes", boxes, 1, len(z_map))).astype(int)
        self._build_map(z_map, labels, sigma)
        self.digit, self.map = kit.image("vae-digit"), kit.image("vae-map")
        self._update()
        for slider in self.sliders:
            slider.observe(self._timed_update, names="value")
        controls = kit.vbox([*self.sliders, kit.captioned("decoded digit sigmoid(g(z))", self.digit)])
        caption = "μ(x) of the test digits" + ("" if sigma is None else ", boxes μ ± 2σ(x) for some")
        self._finish(kit.hbox([controls, kit.captioned(caption, self.map)]))

    def _build_map(self, z_map: np.ndarray, labels: np.ndarray, sigma: np.ndarray | None = None) -> None:
        figure = Figure(figsize=(4.4, 3.8), dpi=80, layout="constrained")
        canvas = FigureCanvasAgg(figure)
        self._axes = figure.add_subplot()
        latent_scatter(z_map, labels, ax=self._axes, s=4, title="the cross is the z you decode")
        if sigma is not None:
            posterior_boxes(self._axes, z_map[self.boxed], sigma[self.boxed])
        self._axes.set_xlim(-self.limit, self.limit)
        self._axes.set_ylim(-self.limit, self.limit)
        canvas.draw()
        self._map, self._palette = _to_palette(np.asarray(canvas.buffer_rgba())[..., :3])

    @property
    def z(self) -> np.ndarray:
        """The latent point the sliders point at, shape (2,)."""
        return np.array([slider.value for slider in self.sliders], dtype=np.float32)

    def marker_position(self, z) -> tuple[int, int]:
        """(row, column) of the map pixel that shows the latent point z."""
        column, up = self._axes.transData.transform((float(z[0]), float(z[1])))
        return int(round(self._map.shape[0] - up)), int(round(column))

    def _map_indices(self, z) -> np.ndarray:
        indices = self._map.copy()
        _paste(indices, self.marker_position(z), _CROSS)
        return indices

    def map_pixels(self, z) -> np.ndarray:
        """The latent map with the cross at z, as RGB pixels (H, W, 3)."""
        return self._palette[self._map_indices(z)]

    def _update(self) -> None:
        z = self.z
        self.image = decode_mean(self.model, z)[0]
        self.digit.value = to_png(self.image, self.scale)
        self.map.value = _encode_png(self._map_indices(z), self._palette)


class EncodeEditExplorer(_Explorer):
    """Pick a test digit x, start from μ(x), edit each latent dimension (sorted by KL per unit) and decode.

    A dimension is labelled inactive when Var_x μ_j(x) ≤ threshold (helpers.beyond.active_mask, Burda et al. 2016);
    `activity` gives those variances instead of computing them from x."""

    css_class = "vae-explorer-edit"

    def __init__(self, model, x: torch.Tensor, labels, index: int = 0, kl: torch.Tensor | None = None,
                 threshold: float = ACTIVE_VARIANCE, limit: float | None = None, step: float = 0.01, scale: int = 5,
                 continuous_update: bool = True, activity: torch.Tensor | None = None) -> None:
        super().__init__()
        _check_model(model)
        self.model, self.x, self.scale = model, _check_images(x), _check_int("scale", scale, 1, 64)
        self.labels = _as_numpy("labels", labels, 1)
        if len(self.labels) != len(x):
            raise ValueError(f"labels must have one entry per row of x ({len(x)}), got {len(self.labels)}")
        mu, logvar = encode_mean(model, x)
        self.mu = mu.numpy()
        self.kl = _as_numpy("kl", kl_per_dimension(mu, logvar) if kl is None else kl, 1)  # finite: nan is refused
        if self.kl.shape != (model.latent_dim,):
            raise ValueError(f"kl must have shape ({model.latent_dim},), got {self.kl.shape}")
        self.order = [int(j) for j in np.argsort(-self.kl, kind="stable")]  # by KL per unit, largest first
        # active: Var_x μ_j(x) > threshold (helpers.beyond.active_mask, Burda et al. 2016), over the digits x given
        if activity is None:
            self.active = {int(j) for j in torch.nonzero(active_mask(mu, threshold)).flatten()}
        else:
            activity = _as_numpy("activity", activity, 1)
            if activity.shape != (model.latent_dim,):
                raise ValueError(f"activity must have shape ({model.latent_dim},), got {activity.shape}")
            self.active = {int(j) for j in np.flatnonzero(activity > _positive("threshold", threshold))}
        self.limit = _positive("limit", limit if limit is not None else max(4.0, float(np.ceil(np.abs(self.mu).max()))))
        step, kit = _positive("step", step), _Kit()
        rows = _Kit(description_width="170px", slider_width="480px")  # one row per latent dimension
        self.index = kit.int_slider("test digit #", _check_int("index", index, 0, len(x) - 1), len(x) - 1)
        self.sliders = {j: rows.float_slider(self._describe(j), self.mu[index, j], -self.limit, self.limit, step,
                                             continuous_update) for j in self.order}
        self.original, self.reconstruction = kit.image("vae-original"), kit.image("vae-recon")
        self.digit, self.mu_text = kit.image("vae-digit"), kit.html()
        self.reset = widgets.Button(description="reset to μ(x)", layout=kit.plain)
        self._show_digit()
        self.index.observe(self._on_index, names="value")
        self.reset.on_click(lambda _button: self._on_index())
        for slider in self.sliders.values():
            slider.observe(self._timed_update, names="value")
        pictures = kit.hbox([kit.captioned("x", self.original), kit.captioned("g(μ(x))", self.reconstruction),
                             kit.captioned("g(z), edited", self.digit)])
        header = kit.html("<b>latent dimensions, most informative first</b> (KL per unit to the prior, test-set "
                          "average, in nats; <i>inactive</i>: Var<sub>x</sub> μ<sub>j</sub>(x) ≤ "
                          f"{threshold:g})")
        self._finish(kit.vbox([kit.hbox([self.index, self.reset]), self.mu_text, pictures, header,
                               *self.sliders.values()]))

    def _describe(self, j: int) -> str:
        return f"z{j + 1} · KL {self.kl[j]:.2f}" + ("" if j in self.active else " · inactive")

    @property
    def z(self) -> np.ndarray:
        """The edited latent point, shape (m,)."""
        z = np.empty(len(self.sliders), dtype=np.float32)
        for j, slider in self.sliders.items():
            z[j] = slider.value
        return z

    def _on_index(self, change=None) -> None:
        with self._hold():
            for j, slider in self.sliders.items():
                slider.value = float(np.clip(self.mu[self.index.value, j], -self.limit, self.limit))
        self._show_digit()

    def _show_digit(self) -> None:
        i = self.index.value
        self.original.value = to_png(self.x[i].reshape(SIDE, SIDE).cpu().numpy(), self.scale)
        self.reconstruction.value = to_png(decode_mean(self.model, self.mu[i])[0], self.scale)
        values = ", ".join(f"z{j + 1} = {self.mu[i, j]:+.2f}" for j in self.order if j in self.active)
        if len(self.active) < len(self.order):
            where = "on the active dimensions", " (the inactive ones barely change with x)"
        else:
            where = "most informative dimension first", ""
        self.mu_text.value = f"digit #{i} is a {self.labels[i]}; μ(x) {where[0]}: {values}{where[1]}"
        self._timed_update()

    def _update(self) -> None:
        self.image = decode_mean(self.model, self.z)[0]
        self.digit.value = to_png(self.image, self.scale)


class InterpolationExplorer(_Explorer):
    """z(t) = (1 − t)·μ(x_a) + t·μ(x_b) between two test digits: a t slider and the decoded path."""

    css_class = "vae-explorer-interp"

    def __init__(self, model, x: torch.Tensor, start: int = 0, end: int = 1, steps: int = 9, scale: int = 5,
                 continuous_update: bool = True) -> None:
        super().__init__()
        _check_model(model)
        self.model, self.x = model, _check_images(x)
        self.scale, self.steps = _check_int("scale", scale, 1, 64), _check_int("steps", steps, 2, 50)
        self.mu = encode_mean(model, x)[0].numpy()
        last, kit = len(x) - 1, _Kit()
        self.start = kit.int_slider("from digit #", _check_int("start", start, 0, last), last)
        self.end = kit.int_slider("to digit #", _check_int("end", end, 0, last), last)
        self.t = kit.float_slider("t", 0.5, 0.0, 1.0, 0.01, continuous_update)
        self.path, self.digit, self.bar = kit.image("vae-path"), kit.image("vae-digit"), kit.image("vae-path-bar")
        self._on_endpoints()
        for endpoint in (self.start, self.end):
            endpoint.observe(self._on_endpoints, names="value")
        self.t.observe(self._timed_update, names="value")
        caption = f"x_a, then g(z(t)) for {self.steps} evenly spaced t, then x_b; the red bar marks t"
        strip = kit.captioned(caption, kit.vbox([self.path, self.bar]))
        self._finish(kit.vbox([kit.hbox([self.start, self.end]), strip,
                               kit.hbox([self.t, kit.captioned("g(z(t))", self.digit)])]))

    @property
    def z(self) -> np.ndarray:
        """z(t) for the current endpoints and t, shape (m,)."""
        return interpolate(self.mu[self.start.value], self.mu[self.end.value], self.t.value)

    def _on_endpoints(self, change=None) -> None:
        ts = np.linspace(0.0, 1.0, self.steps)
        path = decode_mean(self.model, interpolate(self.mu[self.start.value], self.mu[self.end.value], ts))
        ends = [self.x[i].reshape(1, SIDE, SIDE).cpu().numpy() for i in (self.start.value, self.end.value)]
        tiles = np.concatenate([ends[0], path, ends[1]])
        gap = np.full((SIDE, 2), np.nan)
        strip = np.concatenate([part for tile in tiles for part in (tile, gap)][:-1], axis=1)
        grey = _upscale(np.where(np.isnan(strip), 255, _to_uint8(np.nan_to_num(strip))), self.scale)
        self.path.value = _encode_png(grey.astype(np.uint8))
        self._width = grey.shape[1]
        self._path_span = (self.scale * (SIDE + 2), self.scale * ((SIDE + 2) * (self.steps + 1) - 2))
        self._timed_update()

    def bar_pixels(self, t: float) -> np.ndarray:
        """RGB pixels of the bar under the path strip: red under the position of t, white elsewhere."""
        bar = np.full((2 * self.scale, self._width, 3), _GAP_RGB, dtype=np.uint8)
        left, right = self._path_span
        centre = left + t * (right - left - self.scale * SIDE) + self.scale * SIDE / 2
        half = self.scale * SIDE // 2
        bar[self.scale // 2:, max(0, int(centre - half)): int(centre + half)] = _MARK_RGB
        return bar

    def _update(self) -> None:
        self.image = decode_mean(self.model, self.z)[0]
        self.digit.value = to_png(self.image, self.scale)
        self.bar.value = _encode_png(self.bar_pixels(self.t.value))


def median_update_ms(explorer: _Explorer, slider: widgets.Widget, values: Sequence[float],
                     warmup: bool = True) -> float:
    """Median wall time, in ms, from setting `slider.value` to the explorer's new image, over the moves in `values`.

    With `warmup`, the moves are made once untimed first (the first calls into torch and zlib pay one-off costs).
    Only moves that changed the value, and so triggered an update, are timed."""
    if not isinstance(explorer, _Explorer):
        raise TypeError(f"explorer must be one of the explorers in helpers.widgets, got {type(explorer).__name__}")
    values = [float(value) for value in values]
    if len(values) < 2:
        raise ValueError(f"values must hold at least two slider values, got {values}")
    times = []
    for timed in ([False, True] if warmup else [True]):
        for value in values:
            updates, started = len(explorer.timings_ms), time.perf_counter()
            slider.value = value
            if timed and len(explorer.timings_ms) > updates:
                times.append(1000 * (time.perf_counter() - started))
    if not times:
        raise ValueError(f"no value in {values} moved the slider from {slider.value}, so nothing was timed")
    return float(np.median(times))
