"""`make refresh NB=…` (tools/refresh.py): which notebook it means and which committed figures it redraws."""

from __future__ import annotations

import pytest

from tools import figures, refresh


@pytest.mark.parametrize("which", ["05", "5", "05_variational_autoencoder.ipynb",
                                   "notebooks/05_variational_autoencoder.ipynb"])
def test_a_number_or_a_path_names_the_main_notebook(which):
    assert refresh.find_notebook(which) == refresh.NOTEBOOKS / "05_variational_autoencoder.ipynb"


@pytest.mark.parametrize("which", ["9", "", "x.ipynb", "../README.md", "notebooks/assignments/02_kl_divergence_and"
                                   "_elbo_assignment.ipynb"])
def test_anything_else_is_refused_with_the_choices(which):
    with pytest.raises(ValueError, match="notebook"):
        refresh.find_notebook(which)


def test_the_figures_redrawn_are_the_committed_ones_the_notebook_links_to():
    shown = {path.name[:2]: refresh.figures_shown_in(path) for path in sorted(refresh.NOTEBOOKS.glob("0*.ipynb"))}
    assert shown["01"] == ["bp-autoencoder-deterministic.png"] and shown["05"] == ["bp-VAE.png"]
    assert all(set(names) <= set(figures.FIGURES) for names in shown.values())
    assert shown["00"] == [], "a notebook that shows no committed figure redraws none (an empty list is not 'all')"
