"""The shipped weights: they load into eval-mode VAEs that score what their metadata says, and every kind of damage
(missing, corrupt, truncated, garbage, wrong architecture) gives a clear PretrainedError. Damage is only ever done to
temporary copies: `WEIGHTS_DIR` is monkeypatched to a copy of the shipped folder."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
from types import SimpleNamespace

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


def _repin(folder, *file_names):
    """Pin the files' current sha256 in the manifest, as if they were shipped that way."""
    path = folder / pretrained.MANIFEST_NAME
    pins = json.loads(path.read_text())
    pins.update({f: hashlib.sha256((folder / f).read_bytes()).hexdigest() for f in file_names})
    path.write_text(json.dumps(pins))


def _rewrite_json(folder, name, repin=True, **changes):
    path = folder / f"{name}.json"
    meta = json.loads(path.read_text())
    meta.update(changes)
    path.write_text(json.dumps(meta))
    if repin:
        _repin(folder, path.name)


def _replace_weights(folder, name, payload: bytes, repin=True):
    """Write new bytes for the weights and record their sha256 (in the json and, with repin, in the manifest)."""
    (folder / f"{name}.pt").write_bytes(payload)
    _rewrite_json(folder, name, repin=repin, sha256=hashlib.sha256(payload).hexdigest())
    if repin:
        _repin(folder, f"{name}.pt")


def _state_bytes(state: dict) -> bytes:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def _shipped_state(name: str) -> dict:
    return torch.load(SHIPPED / f"{name}.pt", weights_only=True)


def test_shipped_files_are_small_and_match_their_checksums():
    assert pretrained.available() == ["vae-mnist-z16", "vae-mnist-z2"]
    for name in pretrained.available():
        meta = pretrained.metadata(name)
        payload = (SHIPPED / f"{name}.pt").read_bytes()
        assert len(payload) < 3_000_000, f"{name}.pt should stay under 3 MB"
        assert hashlib.sha256(payload).hexdigest() == meta["sha256"]
        pins = json.loads((SHIPPED / pretrained.MANIFEST_NAME).read_text())
        assert pins[f"{name}.pt"] == meta["sha256"]
        assert pins[f"{name}.json"] == hashlib.sha256((SHIPPED / f"{name}.json").read_bytes()).hexdigest()
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
    _repin(weights, "vae-mnist-z2.json")  # pinned, so only the parser can object
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


# ---------------------------------------------------------------- pinned content (issue 20)


def test_edited_metadata_is_refused(weights):
    """Changing the activation in the .json changes the model silently unless the .json itself is pinned."""
    _rewrite_json(weights, "vae-mnist-z2", repin=False, config={**pretrained.metadata("vae-mnist-z2")["config"],
                                                                "activation": "relu"})
    with pytest.raises(PretrainedError, match=r"vae-mnist-z2\.json is corrupt or was edited.*manifest\.json"):
        pretrained.load("vae-mnist-z2")
    with pytest.raises(PretrainedError, match="was edited"):
        pretrained.metadata("vae-mnist-z2")


def test_nan_weights_with_a_matching_json_hash_are_refused(weights):
    state = _shipped_state("vae-mnist-z2")
    state["decoder.0.weight"][0, 0] = float("nan")
    _replace_weights(weights, "vae-mnist-z2", _state_bytes(state), repin=False)
    with pytest.raises(PretrainedError, match=r"vae-mnist-z2\.(pt|json) is corrupt or was edited"):
        pretrained.load("vae-mnist-z2")


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_weights_are_refused_even_when_pinned(weights, bad):
    state = _shipped_state("vae-mnist-z16")
    state["encoder.2.bias"][3] = bad
    _replace_weights(weights, "vae-mnist-z16", _state_bytes(state))
    with pytest.raises(PretrainedError, match=r"non-finite values .*'encoder\.2\.bias'"):
        pretrained.load("vae-mnist-z16")


def test_state_dict_mismatch_lists_every_missing_and_unexpected_key(weights):
    state = _shipped_state("vae-mnist-z2")
    del state["decoder.0.weight"], state["encoder.0.bias"]
    state["decoder.9.weight"] = torch.zeros(3, dtype=torch.float16)
    state["extra"] = torch.zeros(1, dtype=torch.float16)
    state["decoder.0.bias"] = torch.zeros(7, dtype=torch.float16)
    _replace_weights(weights, "vae-mnist-z2", _state_bytes(state))
    with pytest.raises(PretrainedError) as info:
        pretrained.load("vae-mnist-z2")
    message = str(info.value)
    assert "missing keys ['decoder.0.weight', 'encoder.0.bias']" in message, message
    assert "unexpected keys ['decoder.9.weight', 'extra']" in message, message
    assert "decoder.0.bias: (7,) instead of (256,)" in message, message


def test_missing_manifest(weights):
    (weights / pretrained.MANIFEST_NAME).unlink()
    with pytest.raises(PretrainedError, match=r"manifest\.json is missing.*--retrain"):
        pretrained.load("vae-mnist-z16")


def _fake_training(monkeypatch):
    """Replace the series' training and scoring with a tiny untrained VAE and fixed scores: no real retraining."""
    from helpers import recipes

    def train_vae(recipe, latent_dim, seed, progress):
        torch.manual_seed(seed)
        model = VAE(latent_dim, recipe.hidden, activation=recipe.activation)
        return SimpleNamespace(model=model, history={"epoch": [1, 2], "best_epoch": 2}, seconds=0.25)

    monkeypatch.setattr(recipes, "train_vae", train_vae)
    monkeypatch.setattr(recipes, "test_elbo", lambda model, repeats: -500.0)
    monkeypatch.setattr(recipes, "test_iwae", lambda model, k, seed: -490.0)
    monkeypatch.setattr(pretrained.torch, "set_num_threads", lambda n: None)


def test_retrain_updates_the_pins_it_writes(weights, monkeypatch, capsys):
    _fake_training(monkeypatch)
    before = json.loads((weights / pretrained.MANIFEST_NAME).read_text())
    pretrained.main(["--retrain", "--only", "vae-mnist-z2"])
    after = json.loads((weights / pretrained.MANIFEST_NAME).read_text())
    for suffix in (".pt", ".json"):
        file_name = "vae-mnist-z2" + suffix
        assert after[file_name] == hashlib.sha256((weights / file_name).read_bytes()).hexdigest()
        assert after[file_name] != before[file_name], f"{file_name} was not re-pinned"
    assert {k: after[k] for k in after if "z16" in k} == {k: before[k] for k in before if "z16" in k}
    model = pretrained.load("vae-mnist-z2")  # the retrained files load: pins, json and weights agree
    assert pretrained.metadata("vae-mnist-z2")["test_elbo"] == -500.0
    torch.manual_seed(pretrained.SEED)
    shipped_as = VAE(2, (512, 256), activation="silu").decoder[0].weight.detach().half().float()
    assert torch.equal(model.decoder[0].weight.detach(), shipped_as), "the loaded weights are not the retrained ones"
    assert "vae-mnist-z2: test ELBO -500.0 nats" in capsys.readouterr().out


def test_float64_weights_that_overflow_float32_are_refused_even_when_pinned(weights):
    """1e300 is finite in float64 but inf once cast to the model's float32: checked after the cast (issue 29)."""
    state = {key: value.double() for key, value in _shipped_state("vae-mnist-z2").items()}
    state["decoder.0.weight"][0, 0] = 1e300
    _replace_weights(weights, "vae-mnist-z2", _state_bytes(state))
    with pytest.raises(PretrainedError, match=r"non-finite values .*'decoder\.0\.weight'"):
        pretrained.load("vae-mnist-z2")


def test_retrain_of_an_empty_list_retrains_nothing(weights, monkeypatch):
    """An empty list means no model, never all of them (issue 29): no training, no file rewritten."""
    from helpers import recipes

    def no_training(*args, **kwargs):
        raise AssertionError("retrain([]) started a training")

    monkeypatch.setattr(recipes, "train_vae", no_training)
    before = {path.name: path.read_bytes() for path in weights.iterdir()}
    assert pretrained.retrain([], progress=False) == {}
    assert {path.name: path.read_bytes() for path in weights.iterdir()} == before
