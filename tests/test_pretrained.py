"""The shipped weights: they load into eval-mode VAEs that score what their metadata says, and every kind of damage
(missing, corrupt, truncated, garbage, wrong architecture) gives a clear PretrainedError. Damage is only ever done to
temporary copies: `WEIGHTS_DIR` is monkeypatched to a copy of the shipped folder."""

from __future__ import annotations

import hashlib
import json
import shutil

import pytest
import torch

from helpers import pretrained
from helpers.models import VAE
from helpers.pretrained import PretrainedError
from helpers.recipes import RECIPES, test_elbo

SHIPPED = pretrained.WEIGHTS_DIR


@pytest.fixture
def weights(tmp_path, monkeypatch):
    """A private copy of the shipped weights folder, used by `pretrained` for this test."""
    folder = tmp_path / "weights"
    shutil.copytree(SHIPPED, folder)
    monkeypatch.setattr(pretrained, "WEIGHTS_DIR", folder)
    return folder


def _rewrite_json(folder, name, **changes):
    path = folder / f"{name}.json"
    meta = json.loads(path.read_text())
    meta.update(changes)
    path.write_text(json.dumps(meta))


def _replace_weights(folder, name, payload: bytes):
    """Write new bytes for the weights and record their sha256, so only the content check can object."""
    (folder / f"{name}.pt").write_bytes(payload)
    _rewrite_json(folder, name, sha256=hashlib.sha256(payload).hexdigest())


def test_shipped_files_are_small_and_match_their_checksums():
    assert pretrained.available() == ["vae-mnist-z16", "vae-mnist-z2"]
    for name in pretrained.available():
        meta = pretrained.metadata(name)
        payload = (SHIPPED / f"{name}.pt").read_bytes()
        assert len(payload) < 3_000_000, f"{name}.pt should stay under 3 MB"
        assert hashlib.sha256(payload).hexdigest() == meta["sha256"]
        latent_dim, recipe_name = pretrained.MODELS[name]
        assert meta["config"]["latent_dim"] == latent_dim
        assert meta["recipe"]["name"] == recipe_name
        assert tuple(meta["recipe"]["hidden"]) == RECIPES[recipe_name].hidden, "metadata and recipe disagree"
        assert meta["test_iwae_1000"] > meta["test_elbo"], "IWAE-1000 is a tighter bound than the ELBO"


@pytest.mark.usefixtures("bundled_cache")
@pytest.mark.parametrize("name", ["vae-mnist-z2", "vae-mnist-z16"])
def test_load_gives_an_eval_mode_model_that_scores_its_recorded_elbo(weights, name):
    model = pretrained.load(name)
    assert isinstance(model, VAE) and not model.training
    assert all(p.dtype == torch.float32 for p in model.parameters())
    torch.manual_seed(1)
    score = test_elbo(model, repeats=3)
    recorded = pretrained.metadata(name)["test_elbo"]
    assert abs(score - recorded) < 0.5, f"{name}: test ELBO {score:.2f}, recorded {recorded}"
    assert model.sample(4, generator=torch.Generator().manual_seed(0)).shape == (4, 784)


def test_load_rejects_unknown_names():
    with pytest.raises(ValueError, match="name must be one of"):
        pretrained.load("vae-mnist-z3")


def test_missing_weights(weights):
    (weights / "vae-mnist-z2.pt").unlink()
    with pytest.raises(PretrainedError, match=r"vae-mnist-z2\.pt is missing.*--retrain"):
        pretrained.load("vae-mnist-z2")


def test_missing_metadata(weights):
    (weights / "vae-mnist-z16.json").unlink()
    with pytest.raises(PretrainedError, match=r"vae-mnist-z16\.json is missing"):
        pretrained.load("vae-mnist-z16")


def test_metadata_that_is_not_json(weights):
    (weights / "vae-mnist-z2.json").write_text("{not json")
    with pytest.raises(PretrainedError, match="is not valid JSON"):
        pretrained.load("vae-mnist-z2")


def test_corrupt_weights_fail_the_checksum(weights):
    path = weights / "vae-mnist-z2.pt"
    payload = bytearray(path.read_bytes())
    payload[len(payload) // 2] ^= 0xFF  # one flipped byte
    path.write_bytes(bytes(payload))
    with pytest.raises(PretrainedError, match="is corrupt .*sha256 does not match"):
        pretrained.load("vae-mnist-z2")


def test_truncated_weights_cannot_be_read(weights):
    payload = (weights / "vae-mnist-z2.pt").read_bytes()
    _replace_weights(weights, "vae-mnist-z2", payload[: len(payload) // 3])
    with pytest.raises(PretrainedError, match="could not be read as weights"):
        pretrained.load("vae-mnist-z2")


def test_garbage_weights_cannot_be_read(weights):
    _replace_weights(weights, "vae-mnist-z16", bytes(range(256)) * 40)
    with pytest.raises(PretrainedError, match="could not be read as weights"):
        pretrained.load("vae-mnist-z16")


def test_weights_that_are_not_a_state_dict(weights, tmp_path):
    other = tmp_path / "list.pt"
    torch.save([torch.zeros(3)], other)
    _replace_weights(weights, "vae-mnist-z16", other.read_bytes())
    with pytest.raises(PretrainedError, match="does not hold a state dict of tensors"):
        pretrained.load("vae-mnist-z16")


def test_weights_of_another_architecture(weights, tmp_path):
    other = tmp_path / "other.pt"
    torch.save({k: v.half() for k, v in VAE(2, (64,)).state_dict().items()}, other)
    _replace_weights(weights, "vae-mnist-z2", other.read_bytes())
    with pytest.raises(PretrainedError, match="does not match the architecture"):
        pretrained.load("vae-mnist-z2")


def test_metadata_with_the_wrong_latent_size(weights):
    meta = pretrained.metadata("vae-mnist-z16")
    _rewrite_json(weights, "vae-mnist-z16", config={**meta["config"], "latent_dim": 20})
    with pytest.raises(PretrainedError, match="does not match the architecture"):
        pretrained.load("vae-mnist-z16")


def test_metadata_without_a_usable_config(weights):
    _rewrite_json(weights, "vae-mnist-z16", config={"latent_dim": 16, "depth": 3})
    with pytest.raises(PretrainedError, match="does not describe a VAE architecture"):
        pretrained.load("vae-mnist-z16")


def test_damage_never_reaches_the_shipped_files(weights):
    (weights / "vae-mnist-z2.pt").write_bytes(b"broken")
    shipped = (SHIPPED / "vae-mnist-z2.pt").read_bytes()
    recorded = json.loads((SHIPPED / "vae-mnist-z2.json").read_text())["sha256"]
    assert hashlib.sha256(shipped).hexdigest() == recorded


def test_main_prints_the_recorded_scores(capsys):
    pretrained.main([])
    out = capsys.readouterr().out
    for name in pretrained.available():
        assert f"{name}: test ELBO {pretrained.metadata(name)['test_elbo']} nats" in out
