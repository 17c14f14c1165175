"""What every check shares: one verdict line, no crash or hang on any answer, and a failing cell under nbgrader."""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import pytest
import torch

from helpers.checks import FORBIDDEN, check_kl_diag_gaussians, check_minibatch_elbo, core


def kl_right(mu_q, logvar_q, mu_p, logvar_p):
    return 0.5 * (logvar_p - logvar_q + (logvar_q.exp() + (mu_q - mu_p) ** 2) / logvar_p.exp() - 1).sum(-1)


def exits(*args):
    sys.exit(0)


def interrupts(*args):
    raise KeyboardInterrupt


def loops(*args):
    while True:
        pass


def returns_none(*args):
    kl_right(*args)


@pytest.mark.parametrize(("answer", "words"), [
    (exits, "stopped with SystemExit"),
    (interrupts, "stopped with KeyboardInterrupt"),
    (returns_none, "returned None: did you forget `return`?"),
])
def test_a_stop_or_a_missing_return_is_a_failed_check(answer, words, capsys):
    assert not check_kl_diag_gaussians(answer)
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.startswith("❌ Exercise 2.1") and words in out, out


def test_an_endless_loop_is_stopped_after_the_time_limit(monkeypatch, capsys):
    monkeypatch.setattr(core, "CALL_TIME_LIMIT", 0.5)
    start = time.perf_counter()
    assert not check_kl_diag_gaussians(loops)
    assert time.perf_counter() - start < 5
    assert "ran for more than 0 s on one input and was stopped" in capsys.readouterr().out.replace("0.5", "0")


def test_under_nbgrader_a_wrong_answer_raises_after_its_verdict_line(monkeypatch, capsys):
    monkeypatch.setattr(core, "AUTOGRADING", True)
    with pytest.raises(core.CheckFailed, match="Exercise 2.1"):
        check_kl_diag_gaussians(returns_none)
    assert capsys.readouterr().out.startswith("❌ Exercise 2.1")
    assert check_kl_diag_gaussians(kl_right), "a right answer does not raise"


def test_warnings_from_the_answer_do_not_reach_stderr(capsys):
    def warns(*args):
        warnings.warn("a deprecation a student cannot fix", UserWarning, stacklevel=1)
        return kl_right(*args)

    assert check_kl_diag_gaussians(warns)
    assert capsys.readouterr().err == "", "nbgrader scores a test cell that writes to stderr as failed"


def test_the_tested_copy_is_reported_as_not_allowed_even_under_another_name(capsys):
    from helpers.vi_models import minibatch_elbo as renamed

    assert not check_minibatch_elbo(lambda terms, n: renamed(terms, n) + 0.0)
    assert "minibatch_elbo (the project's tested copy) is not allowed" in capsys.readouterr().out


def test_every_exercise_lists_what_its_answer_must_not_call():
    assert set(FORBIDDEN) == {"1.1", "1.2", "2.1", "3.1", "3.2", "3.3", "4.1", "4.2", "5.1", "5.2", "7.1", "7.2"}
    assert all(label and target for rules in FORBIDDEN.values() for label, target in rules)


def _kl_by_tested_copy(mu_q, logvar_q, mu_p, logvar_p):
    from helpers.objectives import kl_normal

    return kl_normal(mu_q, logvar_q, mu_p, logvar_p)


def _elbo_by_private_reference(log_joint, mu_q, logvar_q, eps):
    from helpers.checks.nb02 import _mc_elbo_variants

    return _mc_elbo_variants(mu_q, logvar_q, eps)[0]


def _iwae_by_private_reference(x, logits, z, mu, logvar):
    from helpers.checks.nb05 import _iwae_reference

    return _iwae_reference(x, logits, z, mu, logvar)


@pytest.mark.parametrize(("check", "answer", "named"), [
    ("check_kl_diag_gaussians", _kl_by_tested_copy, "helpers.objectives.kl_normal"),
    ("check_mc_elbo", _elbo_by_private_reference, "the checks' own code"),
    ("check_iwae_estimate", _iwae_by_private_reference, "the checks' own code"),
])
def test_an_answer_that_calls_a_tested_copy_is_refused_and_told_why(check, answer, named, capsys):
    import helpers.checks

    assert not getattr(helpers.checks, check)(answer)
    out = capsys.readouterr().out
    assert named in out and "is not allowed in this exercise" in out, out


def test_numbers_that_print_alike_are_shown_by_their_difference():
    with pytest.raises(core.Failed, match=r"largest difference is 2e-06 at index \(1,\)"):
        core.assert_close(torch.tensor([1.0, 2.000002], dtype=torch.float64), torch.tensor([1.0, 2.0]),
                          inputs="x", rtol=0, atol=1e-9)



# ---------------------------------------------------------------- how a failed check reads under nbgrader


def test_verdict_lines_keep_words_whole_within_the_report_width():
    message = "❌ Exercise 2.1 (KL): " + "expected [0.777, 0.290], got [0.777, 0.291]; " * 4
    lines = core.verdict_lines(message)
    assert lines[0].startswith("❌ Exercise 2.1 (KL): ") and len(lines) > 1
    assert all(len(line) <= core.REPORT_COLUMNS for line in lines)
    assert " ".join(lines).split() == message.split(), "wrapping must not lose or cut a word"


@pytest.mark.slow
def test_under_nbgrader_a_failed_check_cell_shows_its_verdict_and_no_traceback():
    """The kernel nbgrader starts reports CheckFailed by the ❌ line alone (Validate shows it first and uncut), and
    the cell still fails (an error output, which autograde scores 0)."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "from helpers.checks import check_kl_diag_gaussians\ncheck_kl_diag_gaussians(lambda *args: 0.0)")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    client = NotebookClient(nb, allow_errors=True, kernel_name="python3", timeout=120,
                            resources={"metadata": {"path": str(Path(core.__file__).parents[2])}})
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NBGRADER_EXECUTION", "validate")
        client.execute()
    (error,) = [output for output in nb.cells[0].outputs if output.output_type == "error"]
    assert error.ename == "CheckFailed" and error.traceback[0].startswith("❌ Exercise 2.1 (")
    assert all(len(line) <= core.REPORT_COLUMNS for line in error.traceback)
    assert not any("Traceback" in line or "core.py" in line for line in error.traceback), error.traceback
