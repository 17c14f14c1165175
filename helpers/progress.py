"""A progress line for training loops: live while it runs, one clean summary line once it is done.

In a notebook the line is a text display updated in place (tqdm's own formatting, at most a few times a second);
`close(summary)` replaces it with the summary, so a saved notebook shows "training: 40 epochs in 12.3 s, …" instead
of a frozen or red progress bar widget. Outside IPython it is an ordinary tqdm bar on stderr, and the summary is
printed on stdout when it closes.
"""

from __future__ import annotations

import sys
import time

from tqdm.std import tqdm

__all__ = ["ProgressLine"]

REFRESH_SECONDS = 0.2


def _ipython_kernel_active() -> bool:
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    ipython = shell.get_ipython()
    return ipython is not None and "IPKernelApp" in getattr(ipython, "config", {})


class ProgressLine:
    """Progress over `total` steps (e.g. epochs); `update(postfix)` once per step, `close(summary)` at the end."""

    def __init__(self, total: int, desc: str = "training", unit: str = "epoch", enabled: bool = True) -> None:
        if not isinstance(total, int) or isinstance(total, bool) or total < 1:
            raise ValueError(f"total must be a positive int, got {total!r}")
        if not isinstance(desc, str):
            raise TypeError(f"desc must be a str, got {type(desc).__name__}")
        self.total, self.desc, self.unit, self.enabled = total, desc, unit, enabled
        self.done = 0
        self.postfix = ""
        self._start = time.perf_counter()
        self._last_drawn = -float("inf")
        self._handle = None
        self._bar = None
        if not enabled:
            return
        if _ipython_kernel_active():
            from IPython.display import display

            self._handle = display({"text/plain": self._text()}, raw=True, display_id=True)
        else:
            self._bar = tqdm(total=total, desc=desc, unit=unit, leave=False, file=sys.stderr)

    def _text(self) -> str:
        return tqdm.format_meter(self.done, self.total, time.perf_counter() - self._start, prefix=self.desc,
                                 unit=self.unit, postfix=self.postfix or None, ncols=100)

    def update(self, postfix: dict[str, str] | None = None) -> None:
        """One step done; `postfix` (e.g. {"train": "98.2"}) is shown after the bar."""
        self.done += 1
        self.postfix = ", ".join(f"{key}={value}" for key, value in (postfix or {}).items())
        if self._bar is not None:
            self._bar.set_postfix_str(self.postfix, refresh=False)
            self._bar.update(1)
        elif self._handle is not None:
            now = time.perf_counter()
            if now - self._last_drawn >= REFRESH_SECONDS or self.done == self.total:
                self._handle.update({"text/plain": self._text()}, raw=True)
                self._last_drawn = now

    def close(self, summary: str) -> None:
        """Replace the live line by `summary` (one line that stays in the saved output)."""
        if self._bar is not None:
            self._bar.close()
            print(summary)
        elif self._handle is not None:
            self._handle.update({"text/plain": summary}, raw=True)
        self._bar = self._handle = None
