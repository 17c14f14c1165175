"""A generated block of a page (README.md, docs/*.md) between two marker comments, written by a script and checked
by a test: the page's prose never retypes what the block holds (tests/test_docs.py)."""

from __future__ import annotations

from pathlib import Path


def read_block(page: Path, begin: str, end: str) -> str:
    """What `page` holds between `begin` and `end` ('' when it has no `begin` marker)."""
    text = page.read_text(encoding="utf-8")
    return text.split(begin, 1)[1].split(end, 1)[0].strip() if begin in text else ""


def write_block(page: Path, begin: str, end: str, block: str) -> None:
    """Replace what lies between the markers with `block`; everything else stays as it is."""
    text = page.read_text(encoding="utf-8")
    head, rest = text.split(begin, 1)
    page.write_text(f"{head}{begin}\n{block}\n{end}{rest.split(end, 1)[1]}", encoding="utf-8")
