"""The progress line: live updates while running, one summary line left in a saved notebook."""

import nbformat
import pytest
from nbclient import NotebookClient

from helpers.progress import ProgressLine


def test_script_mode_prints_the_summary_and_leaves_no_bar(capsys):
    line = ProgressLine(3, desc="toy")
    for loss in (3.0, 2.0, 1.0):
        line.update({"loss": f"{loss:.1f}"})
    line.close("toy: 3 epochs, loss 1.0")
    captured = capsys.readouterr()
    assert captured.out == "toy: 3 epochs, loss 1.0\n"
    assert "toy" in captured.err  # the live bar went to stderr


def test_disabled_line_prints_nothing(capsys):
    line = ProgressLine(2, enabled=False)
    line.update()
    line.close("summary")
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize("total", [0, -1, 2.5, True, None])
def test_total_must_be_a_positive_int(total):
    with pytest.raises(ValueError, match="total"):
        ProgressLine(total)


def test_a_saved_notebook_keeps_only_the_summary_line():
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell(
        "from helpers.progress import ProgressLine\n"
        "line = ProgressLine(50, desc='toy')\n"
        "for _ in range(50):\n    line.update({'loss': '1.0'})\n"
        "line.close('toy: 50 epochs, loss 1.0')"))
    NotebookClient(nb, timeout=60, kernel_name="python3").execute()
    outputs = nb.cells[0].outputs
    assert [o["data"]["text/plain"] for o in outputs] == ["toy: 50 epochs, loss 1.0"]
    assert "widget" not in str(outputs)
