"""Program-made wrong answers (tests/mutants.py): every non-equivalent mutant of each reference solution is caught,
the held-out mutants are named, and the page shows the table the mutants give."""

from __future__ import annotations

import pytest

from tests import mutants

GOAL = 0.9  # named share of the held-out mutants, per exercise


@pytest.mark.parametrize("number", mutants.EXERCISES)
def test_every_non_equivalent_mutant_is_caught(number):
    missed = [o.mutant.change for o in mutants.outcomes(number) if not o.equivalent and not o.caught]
    assert not missed, f"{number}: mutants that pass the check: {missed}"


@pytest.mark.parametrize("number", mutants.EXERCISES)
def test_held_out_mutants_are_named(number):
    row = mutants.row(number)
    assert row.held_out and row.named_held_out >= GOAL * row.held_out, (
        f"{number}: {row.named_held_out}/{row.held_out} held-out mutants named")


def test_every_exercise_has_its_solution_and_mutants():
    assert set(mutants.solutions()) == set(mutants.EXERCISES)
    for number in mutants.EXERCISES:
        assert mutants.row(number).mutants >= 10, number


def test_equivalent_mutants_are_recognised_by_their_outputs():
    """A mutant that computes the same function is dropped; one that differs only on inputs the check never uses
    (a 3-D batch in 2.1) is kept."""
    source = mutants.solutions()["2.1"]
    reference = mutants.compile_function(source)
    outputs = [mutants._run(reference, args) for args in mutants._equivalence_inputs("2.1")]
    same = source.replace("(mu_q - mu_p) ** 2", "(mu_p - mu_q) ** 2")
    other_dim = source.replace("per_dim.sum(dim=-1)", "per_dim.sum(dim=1)")
    assert mutants.equivalent("2.1", mutants.compile_function(same), outputs)
    assert not mutants.equivalent("2.1", mutants.compile_function(other_dim), outputs)


def test_naming_ignores_words_the_nameless_message_already_has():
    generic = "❌ Exercise 2.1: for mu_q, logvar_q of shape (2, 3), expected [1.0], got [2.0]."
    assert not mutants.names("❌ Exercise 2.1: for mu_q, logvar_q of shape (2, 3), expected [1.0], got [2.0].",
                             ("expected", "exp"), generic)
    assert mutants.names("❌ … It looks like exp is missing from σ².", ("exp is missing",), generic)
    assert not mutants.names("✅ … exp is missing", ("exp is missing",), generic)


def test_the_page_shows_the_mutants_table():
    table = {number: mutants.row(number) for number in mutants.EXERCISES}
    assert mutants.read_table() == mutants.markdown(table), "run `python -m tests.mutants --write`"
