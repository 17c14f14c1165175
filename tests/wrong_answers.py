"""How many of the project's own wrong answers each check catches (❌) and names (its message has the expected words).

    python -m tests.wrong_answers            # print the table
    python -m tests.wrong_answers --write    # write it into docs/reliability.md (between the wrong-answers markers)

The wrong answers are the `WRONG_ANSWERS` lists of tests/test_checks_nbNN.py; tests/test_wrong_answer_table.py checks
that the page (`PAGE`, the one file that holds the table) shows what this computes.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import sys
from pathlib import Path

from tests.generated_block import read_block, write_block

PAGE = Path(__file__).resolve().parents[1] / "docs" / "reliability.md"  # the one page that holds the table
BEGIN, END = "<!-- wrong-answers:begin -->", "<!-- wrong-answers:end -->"
MODULES = ("test_checks_nb01", "test_checks_nb02", "test_checks_nb03", "test_checks_nb04", "test_checks_nb05",
           "test_checks_nb07")


def _checks() -> dict[str, object]:
    import helpers.checks as checks

    return {getattr(checks, name).exercise_number: getattr(checks, name) for name in checks.__all__
            if name.startswith("check_")}


def counts() -> dict[str, tuple[int, int, int]]:
    """{exercise: (wrong answers, caught, caught and named)}."""
    checks, table = _checks(), {}
    for module_name in MODULES:
        module = importlib.import_module(f"tests.{module_name}")
        for number, wrong_answers in module.WRONG_ANSWERS.items():
            caught = named = 0
            for answer, words in wrong_answers:
                out = io.StringIO()
                with contextlib.redirect_stdout(out):
                    checks[number](answer)
                text = out.getvalue()
                caught += text.startswith("❌")
                named += text.startswith("❌") and words in text
            table[number] = (len(wrong_answers), caught, named)
    return table


def markdown(table: dict[str, tuple[int, int, int]]) -> str:
    lines = ["| exercise | wrong answers in the tests | caught (❌) | caught and named |",
             "| --- | ---: | ---: | ---: |"]
    lines += [f"| {number} | {total} | {caught} | {named} |" for number, (total, caught, named) in table.items()]
    total = [sum(column) for column in zip(*table.values())]
    lines.append(f"| **all** | {total[0]} | {total[1]} | {total[2]} |")
    return "\n".join(lines)


def page_block() -> str:
    return read_block(PAGE, BEGIN, END)


def write_page(block: str) -> None:
    write_block(PAGE, BEGIN, END, block)


if __name__ == "__main__":
    block = markdown(counts())
    if "--write" in sys.argv[1:]:
        write_page(block)
    print(block)
