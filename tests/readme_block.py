"""A block of README.md between two marker comments, written by a script and checked by a test."""

from __future__ import annotations

from pathlib import Path


def read_block(readme: Path, begin: str, end: str) -> str:
    """What `readme` holds between `begin` and `end` ('' when it has no `begin` marker)."""
    text = readme.read_text(encoding="utf-8")
    return text.split(begin, 1)[1].split(end, 1)[0].strip() if begin in text else ""


def write_block(readme: Path, begin: str, end: str, block: str) -> None:
    """Replace what lies between the markers with `block`; everything else stays as it is."""
    text = readme.read_text(encoding="utf-8")
    head, rest = text.split(begin, 1)
    readme.write_text(f"{head}{begin}\n{block}\n{end}{rest.split(end, 1)[1]}", encoding="utf-8")
