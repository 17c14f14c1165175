"""docs/reliability.md's table of the wrong answers each check catches and names is what wrong_answers.py computes."""

from __future__ import annotations


def test_reliability_page_reports_what_the_wrong_answer_tests_catch_and_name():
    from tests import wrong_answers

    table = wrong_answers.counts()
    assert set(table) == {"1.1", "1.2", "2.1", "2.2", "3.1", "3.2", "3.3", "4.1", "4.2", "5.1", "5.2", "7.1", "7.2"}
    assert wrong_answers.page_block() == wrong_answers.markdown(table), "run `python -m tests.wrong_answers --write`"
