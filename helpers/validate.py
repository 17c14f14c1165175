"""The argument checks the public helpers share, called once at their top (never inside per-step maths).

Each check names the argument in its message: a `TypeError` for the wrong kind of value (complex numbers
included: they are never cast to real), a `ValueError` for a value out of range (nan, inf, pixels outside [0, 1],
a seed that is not a non-negative int, a CUDA device on a machine without one). Checks read tensors without
gradients and on their own device; one pass over the data (`isfinite`, `aminmax`), no copy. Importing this module
does not import torch (helpers.linear is numpy only): a value can only be a tensor once torch is loaded.
"""

from __future__ import annotations

import math
import numbers
import sys

import numpy as np

__all__ = ["finite", "number", "real_array", "unit_interval", "seed", "batch_size", "device"]

MAX_SEED = 2**32 - 1  # numpy's legacy seeding (seed_everything) takes at most this; torch and default_rng take it too


def _is_tensor(value) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(value, torch.Tensor)


def _kind(value) -> str:
    return f"dtype {value.dtype}" if hasattr(value, "dtype") else type(value).__name__


def _refuse_complex(name: str, value) -> None:
    is_complex = (value.is_complex() if _is_tensor(value)
                  else np.iscomplexobj(value) if isinstance(value, (np.ndarray, np.generic))
                  else isinstance(value, complex))
    if is_complex:
        raise TypeError(f"{name} must hold real numbers, got complex values ({_kind(value)}); "
                        "pass the real part (.real) or the magnitude (abs) explicitly")


def finite(name: str, value):
    """`value` (a tensor, an array or a number) unchanged, if it is real and holds no nan or inf."""
    _refuse_complex(name, value)
    if _is_tensor(value):
        if value.is_floating_point():
            value_ = value.detach()  # no autograd record, whatever the grad mode
            # A finite sum proves every entry finite (a nan or an inf makes it nan or inf), at a tenth of the cost
            # of isfinite().all(); only a non-finite sum (bad entries, or an overflow) pays for the exact count.
            if not bool(value_.sum().isfinite()) and not bool(value_.isfinite().all()):
                bad = int((~value_.isfinite()).sum())
                raise ValueError(f"{name} must hold finite numbers, got {bad} nan or inf value(s) of {value.numel()}")
        return value
    if isinstance(value, (np.ndarray, np.generic)):
        if np.issubdtype(value.dtype, np.floating) and not np.isfinite(value).all():
            bad = int((~np.isfinite(value)).sum())
            raise ValueError(f"{name} must hold finite numbers, got {bad} nan or inf value(s) of {value.size}")
        return value
    if isinstance(value, numbers.Real) and not isinstance(value, bool) and not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return value


def real_array(name: str, value, what: str = "an array or tensor of numbers") -> np.ndarray:
    """A float64 numpy array of `value` (a tensor, an array or nested lists), finite and real; TypeError for
    strings, ragged lists and complex numbers (never cast to real), ValueError for nan or inf."""
    if _is_tensor(value):
        value = value.detach().cpu().numpy()
    try:
        array = np.asarray(value)
        numeric = array.dtype == bool or np.issubdtype(array.dtype, np.number)
    except ValueError:  # a ragged list
        numeric = False
    if not numeric:
        raise TypeError(f"{name} must be {what}, got {type(value).__name__}")
    return finite(name, array).astype(np.float64)


def number(name: str, value, low: float = -math.inf, high: float = math.inf, *, strict_low: bool = False) -> float:
    """A real Python/numpy number, finite, in [low, high] (or (low, high] with strict_low), as a float."""
    _refuse_complex(name, value)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value) or value < low or value > high or (strict_low and value == low):
        span = f"{'(' if strict_low else '['}{low:g}, {high:g}]"
        raise ValueError(f"{name} must be a finite number in {span}, got {value!r}")
    return value


def unit_interval(name: str, value, low: float = 0.0, high: float = 1.0, what: str = "pixel intensities"):
    """`value` unchanged if it is finite and every entry lies in [low, high] (default [0, 1]: an image)."""
    finite(name, value)
    if _is_tensor(value):
        if value.numel():
            least, most = (float(v) for v in value.detach().aminmax())
        else:
            least, most = low, high
    else:
        array = np.asarray(value)
        least, most = (float(array.min()), float(array.max())) if array.size else (low, high)
    if least < low or most > high:
        hint = " (0–255 grey levels? divide by 255; logits? apply a sigmoid)" if (low, high) == (0.0, 1.0) else ""
        raise ValueError(f"{name} must lie in [{low:g}, {high:g}] ({what}), got values in [{least:.4g}, {most:.4g}]"
                         + hint)
    return value


def _integer(name: str, value, low: int, high: int | None, what: str) -> int:
    _refuse_complex(name, value)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low or (
            high is not None and value > high):
        span = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{name} must be an int {span} ({what}), got {value!r}")
    return int(value)


def seed(value, name: str = "seed") -> int:
    """A random seed: an int in [0, 2³² − 1] (numpy and torch both accept it)."""
    return _integer(name, value, 0, MAX_SEED, "a random seed")


def batch_size(value, name: str = "batch_size") -> int:
    """A positive int: examples per minibatch."""
    return _integer(name, value, 1, None, "examples per batch")


def device(value, name: str = "device"):
    """A torch.device (or its name) that exists on this machine: cpu, an available cuda index, or mps if built."""
    import torch

    if isinstance(value, str):
        try:
            value = torch.device(value)
        except RuntimeError:
            raise ValueError(f"{name} must be 'cpu', 'cuda', 'cuda:<index>' or 'mps', got {value!r}") from None
    if not isinstance(value, torch.device):
        raise TypeError(f"{name} must be a torch.device or a device name such as 'cpu', got {type(value).__name__}")
    if value.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"{name} is {str(value)!r} but no CUDA device is available on this machine; "
                             "use 'cpu' (or helpers.get_device())")
        if value.index is not None and value.index >= torch.cuda.device_count():
            raise ValueError(f"{name} is {str(value)!r} but this machine has {torch.cuda.device_count()} CUDA "
                             "device(s)")
    elif value.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ValueError(f"{name} is 'mps' but no MPS (Apple GPU) device is available on this machine; use 'cpu'")
    elif value.type != "cpu":
        raise ValueError(f"{name} must be a cpu, cuda or mps device, got {str(value)!r}")
    return value
