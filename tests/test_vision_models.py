"""The models offered on the Layer Visualization page: offline ones load and predict, online ones say why not."""
from __future__ import annotations

import io
import typing
import urllib.error

import pytest
import torch

from cnn_core.data.preprocess import prepare
from cnn_core.data.samples import sample_photo
from cnn_core.errors import CheckpointError, PlaygroundError
from cnn_core.inspect import feature_maps as act
from cnn_core.models import ModelOptions, build_model
from cnn_core.training import TrainConfig, zoo as vmod
from cnn_core.training.checkpoints import checkpoint_bytes


@pytest.fixture(scope="module")
def lite0() -> vmod.VisionModel:
    return vmod.load_vision_model("efficientnet-lite0")


# Verified on this machine: china.jpg -> palace 38% (then bell cote, lakeside, monastery, castle);
# flower.jpg -> daisy 28%; grace_hopper.jpg -> academic gown / mortarboard / military uniform.
@pytest.mark.parametrize("photo, known", [("china", "palace"), ("flower", "daisy"),
                                          ("grace_hopper", "military uniform")])
def test_efficientnet_lite0_puts_the_known_class_in_the_top5(lite0, photo, known):
    x = prepare(sample_photo(photo), lite0.input).tensor
    if photo == "china":  # the page's path: every layer recorded, then the top 5
        top = act.analyze(lite0.model, x, lite0.class_names).top(5)["class"].tolist()
    else:
        with torch.no_grad():
            top = [lite0.class_names[i] for i in lite0.model(x)[0].topk(5).indices]
    assert known in top, top


def test_efficientnet_lite0_spec_and_depthwise_convolutions(lite0):
    assert len(lite0.class_names) == 1000 and lite0.class_names[0] == "tench"
    assert not any(m.training for m in lite0.model.modules())
    spec = lite0.input
    assert (spec.size, spec.resize, spec.channels) == (224, 256, 3)
    x = torch.tensor([0.0, 127 / 255, 1.0])  # (x*255 - 127) / 128: -127/128, 0, 1
    assert torch.allclose((x - spec.mean[0]) / spec.std[0], torch.tensor([-127 / 128, 0.0, 1.0]))
    depthwise = vmod.depthwise_convs(lite0.model)
    assert len(depthwise) == 16
    assert all(conv.groups == conv.in_channels == conv.out_channels for _, conv in depthwise)
    assert "**16**" in vmod.depthwise_summary(lite0.model) and "groups" in vmod.depthwise_summary(lite0.model)
    assert vmod.depthwise_summary(build_model("lenet5-modern")) == ""
    assert sum(p.numel() for p in lite0.model.parameters()) == 4_652_008


def test_lenet5_disk_cache_is_reused(tmp_path, monkeypatch):
    monkeypatch.setenv("CNN_PLAYGROUND_CACHE", str(tmp_path))
    tiny = TrainConfig(model="lenet5-modern", dataset="mnist-5k", per_class=10, epochs=1, seed=0)
    first = vmod.load_lenet5(tiny)
    files = list(tmp_path.glob("lenet5-modern-*.pt"))
    assert len(files) == 1, "the first call trains and writes the cache file"
    stamp = files[0].stat().st_mtime_ns

    class NoTraining:
        def __init__(self, *args, **kwargs):
            raise AssertionError("trained again instead of loading the cache")

    import cnn_core.training.pretrained

    monkeypatch.setattr(cnn_core.training.pretrained, "TrainingRun", NoTraining)
    second = vmod.load_lenet5(tiny)
    assert files[0].stat().st_mtime_ns == stamp
    for a, b in zip(first.model.state_dict().values(), second.model.state_dict().values()):
        assert torch.equal(a, b)
    assert second.input.style == "digit" and second.input.size == 28 and second.class_names[3] == "3"


def test_torchvision_models_offline_give_a_clear_message_without_hanging(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    for key in vmod.TORCHVISION_MODELS:
        assert not vmod.torchvision_weights_cached(key)
        with pytest.raises(vmod.WeightsUnavailable, match="not in the torch hub cache") as info:
            vmod.load_vision_model(key)
        assert isinstance(info.value, PlaygroundError)
    timeouts = []

    def offline(url, timeout=None):
        timeouts.append(timeout)
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(vmod.urllib.request, "urlopen", offline)
    with pytest.raises(vmod.WeightsUnavailable, match="needs internet"):
        vmod.download_weights("resnet18")
    assert timeouts == [vmod.DOWNLOAD_TIMEOUT_S] and vmod.DOWNLOAD_TIMEOUT_S <= 10
    assert not any(tmp_path.rglob("*.partial")), "no half-written file is left behind"


def test_a_damaged_download_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    class Response(io.BytesIO):
        headers: typing.ClassVar[dict[str, str]] = {"Content-Length": "5"}

    monkeypatch.setattr(vmod.urllib.request, "urlopen", lambda url, timeout=None: Response(b"12345"))
    with pytest.raises(vmod.WeightsUnavailable, match="checksum"):
        vmod.download_weights("alexnet")
    assert not vmod.torchvision_weights_cached("alexnet")


def test_torchvision_model_loads_from_the_hub_cache(tmp_path, monkeypatch):
    import torchvision

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    path = vmod.TORCHVISION_MODELS["resnet18"].cache_file()
    assert str(path).startswith(str(tmp_path)) and path.name == "resnet18-f37072fd.pth"
    path.parent.mkdir(parents=True)
    torch.manual_seed(0)
    reference = torchvision.models.resnet18()
    torch.save(reference.state_dict(), path)
    loaded = vmod.load_vision_model("resnet18")
    assert loaded.class_names[0] == "tench" and len(loaded.class_names) == 1000
    assert not loaded.model.training
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(loaded.model(x), reference.eval()(x), atol=1e-5)
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(vmod.WeightsUnavailable, match="cannot be loaded"):
        vmod.load_vision_model("resnet18")


def test_checkpoint_models_and_their_errors():
    torch.manual_seed(0)
    options = ModelOptions()
    model = build_model("lenet5-modern", options)
    config = TrainConfig(model="lenet5-modern", dataset="mnist-5k", epochs=1)
    data = checkpoint_bytes(model, "lenet5-modern", options, config=config, metrics={"test_accuracy": 0.5},
                            class_names=tuple("0123456789"), input_shape=(1, 28, 28))
    loaded = vmod.from_checkpoint(data, "my run")
    assert loaded.label == "my run" and loaded.key.startswith("checkpoint-")
    assert loaded.input.style == "digit" and loaded.input.channels == 1
    assert loaded.input.mean[0] == pytest.approx(0.13, abs=0.01)  # mnist-5k's own statistics
    assert "50.0%" in loaded.description
    for bad in (b"", b"garbage bytes", data[: len(data) // 2]):
        with pytest.raises(CheckpointError):
            vmod.from_checkpoint(bad, "bad")


def test_unknown_model_key():
    with pytest.raises(PlaygroundError, match="Unknown model"):
        vmod.load_vision_model("inception-v9")
