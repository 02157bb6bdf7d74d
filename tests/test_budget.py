"""The resource budget: meta-device costs against torchinfo / autograd, refusals, env vars, limits, caches that heal."""
from __future__ import annotations

import io
import os
import time
import tomllib
from pathlib import Path

import pytest
import torch
import torchinfo
from torch import nn

from cnn_core import (CheckpointError, LayerSpec, ModelOptions, TrainConfig, build_from_specs, build_model,
                      checkpoint_bytes, load_checkpoint)
from cnn_core.errors import ArchitectureError, BudgetExceeded, DesignTooLarge, InvalidConfig, short, short_repr
from cnn_core.models import builder
from cnn_core.models.cost import MAX_LAYERS, check_forward, profile
from cnn_core.models.registry import model_cost
from cnn_core.serialization import json_depth, parse_json
from cnn_core.training import budget
from cnn_core.training.checkpoints import MAX_CHECKPOINT_BYTES

ROOT = Path(__file__).resolve().parent.parent
CONV_NET = (LayerSpec.of("conv", out_channels=8, kernel_size=3, padding=1), LayerSpec.of("activation"),
            LayerSpec.of("maxpool"), LayerSpec.of("conv", out_channels=12, kernel_size=3, groups=4, bias=False),
            LayerSpec.of("batchnorm"), LayerSpec.of("flatten"), LayerSpec.of("dropout", p=0.1),
            LayerSpec.of("linear", out_features=10))


@pytest.mark.parametrize("name, options, shape", [
    ("lenet5-modern", ModelOptions(), (1, 28, 28)),
    ("plain-cnn", ModelOptions(depth=3, width=8, in_channels=3, image_size=32), (3, 32, 32)),
    ("deep-mlp", ModelOptions(depth=4, width=32), (1, 28, 28)),
    ("custom", ModelOptions(layers=CONV_NET), (1, 28, 28)),
])
def test_meta_device_cost_matches_torchinfo_and_a_real_forward_pass(name, options, shape):
    model = build_model(name, options).eval()
    cost = model_cost(name, options)  # built on the meta device
    info = torchinfo.summary(model, input_size=(1, *shape), verbose=0)
    assert cost.params == info.total_params == sum(p.numel() for p in model.parameters())
    weighted = [layer for layer in cost.layers if layer.detail.startswith(("Conv2d", "Linear"))]
    modules = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    bias_adds = sum(layer.activations for layer, m in zip(weighted, modules) if m.bias is not None)
    others = sum(layer.params for layer in cost.layers if layer not in weighted)  # torchinfo: BatchNorm = its params
    assert sum(layer.macs for layer in weighted) + bias_adds + others == info.total_mult_adds  # and it counts biases
    outputs = []
    hooks = [m.register_forward_hook(lambda m, i, o: outputs.append(tuple(o.shape[1:])))
             for m in model.modules() if not list(m.children())]
    with torch.no_grad():
        model(torch.zeros(1, *shape))
    for hook in hooks:
        hook.remove()
    assert [layer.output_shape for layer in cost.layers] == outputs


def test_profiling_a_shared_model_leaves_no_hook_and_every_mode_as_it_was():
    model = build_model("lenet5-modern", ModelOptions(batch_norm=True))
    model.train()
    model.features[1].eval()  # a mixed-mode model: each module's own flag must come back
    before = {name: m.training for name, m in model.named_modules()}
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    cost = profile(model, (1, 28, 28))
    assert cost.params == sum(p.numel() for p in model.parameters()) > 61706  # LeNet-5 + batch-norm scales
    assert {name: m.training for name, m in model.named_modules()} == before
    assert all(not m._forward_hooks for m in model.modules())
    assert all(torch.equal(v, weights[k]) for k, v in model.state_dict().items())


def test_training_memory_estimate_covers_what_autograd_saves():
    """The estimate's activation part is at least what autograd keeps for backward, and not wildly more."""
    config = TrainConfig(model="custom", batch_size=64, model_options=ModelOptions(layers=CONV_NET))
    estimate = budget.estimate_run(config)
    model = build_model("custom", budget.run_options(config))
    saved = []

    def pack(t: torch.Tensor) -> torch.Tensor:
        saved.append(t.untyped_storage().nbytes())
        return t

    x = torch.randn(64, 1, 28, 28, requires_grad=False)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = model(x).logsumexp(dim=1).mean()
    loss.backward()
    cost = estimate.cost
    activations = cost.training_bytes(64, 0) - 2 * cost.param_bytes - 4 * cost.buffers  # the batch's part only
    saved_bytes = sum(saved)
    assert saved_bytes <= activations <= 4 * saved_bytes


def test_a_run_within_the_default_budget_is_admitted_and_the_env_vars_tighten_it(monkeypatch):
    default = TrainConfig()
    estimate = budget.check_run(default)
    assert 0 < estimate.memory_bytes < 2**30 and 0 < estimate.seconds < 600
    monkeypatch.setenv("CNN_PLAYGROUND_MAX_RUN_MEMORY_MB", "8")
    with pytest.raises(BudgetExceeded, match=r"limit per run is 8\.0 MiB: layer \d+ \(.*\) alone needs"):
        budget.check_run(default)
    monkeypatch.setenv("CNN_PLAYGROUND_MAX_RUN_MEMORY_MB", "not a number")  # ignored (logged): the default
    budget.check_run(default)
    monkeypatch.setenv("CNN_PLAYGROUND_MAX_RUN_SECONDS", "1")
    with pytest.raises(BudgetExceeded, match="would take about .* the limit per run is 1 s.*fewer epochs"):
        budget.check_run(default)
    assert issubclass(BudgetExceeded, InvalidConfig)


def test_training_a_run_over_budget_is_refused_before_the_model_exists(monkeypatch):
    from cnn_core.training import loop

    built = []
    monkeypatch.setattr(loop, "build_model", lambda *a, **k: built.append(a) or build_model(*a, **k))
    config = TrainConfig(model="plain-cnn", model_options=ModelOptions(depth=50, width=1024), batch_size=512)
    with pytest.raises(BudgetExceeded, match="lower the batch size or the channels"):
        loop.TrainingRun(config)
    assert built == []


def test_comparisons_add_memory_up_and_searches_take_the_largest():
    configs = {f"seed {i}": TrainConfig(seed=i, batch_size=32 * (i + 1)) for i in range(3)}
    single = [budget.estimate_run(c) for c in configs.values()]
    together = budget.check_runs(configs)
    one_by_one = budget.check_runs(list(configs.values()), together=False)
    assert together.memory_bytes == sum(e.memory_bytes for e in single)
    assert one_by_one.memory_bytes == max(e.memory_bytes for e in single)
    assert together.seconds == pytest.approx(sum(e.seconds for e in single)) == one_by_one.seconds


def test_a_design_over_the_limits_is_refused_before_any_real_layer_is_built(monkeypatch):
    devices = []
    real_build = builder._build_layer
    monkeypatch.setattr(builder, "_build_layer", lambda *a: devices.append(torch.get_default_device().type)
                        or real_build(*a))
    wide = (LayerSpec.of("conv", out_channels=1024, kernel_size=3, padding=1),) * 2 + (
        LayerSpec.of("flatten"), LayerSpec.of("linear", out_features=10))
    with pytest.raises(DesignTooLarge, match=r"Layer 2 \(Conv2d 1024->1024\) makes the network too large") as info:
        build_from_specs(wide, (3, 128, 128))
    assert info.value.layer_index == 1 and isinstance(info.value, ArchitectureError)
    assert devices and set(devices) == {"meta"}


def test_layer_count_is_bounded():
    build_from_specs((LayerSpec.of("activation"),) * MAX_LAYERS, (1, 8, 8))
    with pytest.raises(DesignTooLarge, match=f"at most {MAX_LAYERS}"):
        build_from_specs((LayerSpec.of("activation"),) * (MAX_LAYERS + 1), (1, 8, 8))


def test_an_analysis_of_a_huge_image_is_refused_but_a_normal_one_is_admitted():
    model = nn.Sequential(nn.Conv2d(3, 64, 3), nn.ReLU()).eval()
    check_forward(model, (3, 224, 224))
    with pytest.raises(BudgetExceeded, match="Analysing|analysis"):
        check_forward(model, (3, 4000, 4000), what="analysing this image")


def test_the_upload_limit_is_the_largest_legitimate_checkpoint():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    megabytes = config["server"]["maxUploadSize"]
    assert (megabytes - 1) * 2**20 < MAX_CHECKPOINT_BYTES <= megabytes * 2**20
    assert MAX_CHECKPOINT_BYTES == budget.memory_budget_bytes() // 6 + 2**20


def test_checkpoint_weights_are_assigned_not_copied_and_train_again():
    model = build_model("lenet5-modern")
    loaded = load_checkpoint(checkpoint_bytes(model, "lenet5-modern", ModelOptions()))
    assert all(p.requires_grad and p.device.type == "cpu" for p in loaded.model.parameters())
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), loaded.model.state_dict().values()))
    loaded.model.train()
    loaded.model(torch.zeros(2, 1, 28, 28)).sum().backward()
    assert all(p.grad is not None for p in loaded.model.parameters())


def test_a_checkpoint_over_the_size_limit_on_disk_is_refused_before_it_is_read(tmp_path, monkeypatch):
    monkeypatch.setattr("cnn_core.training.checkpoints.MAX_CHECKPOINT_BYTES", 1000)
    path = tmp_path / "big.pt"
    path.write_bytes(bytes(2000))
    monkeypatch.setattr(Path, "read_bytes", lambda self: pytest.fail("read before the size check"))
    with pytest.raises(CheckpointError, match="limit"):
        load_checkpoint(path)


def test_parse_json_agrees_with_the_json_module_and_bounds_the_rest():
    import json

    text = '{"a": [1, -2.5e-3, "x]\\"[", {"b": null, "c": true}], "d": 9223372036854775807}'
    assert parse_json(text) == json.loads(text)
    assert json_depth(text) == 3 and json_depth("[[[]]]") == 3
    for bad, message in [("[" * 33 + "]" * 33, "nested 33 levels"), ("1" * 20, "too large"), ("[1e309]", "float"),
                         ("[Infinity]", "finite"), (" " * 300_000, "too large"), (b"\xff", "UTF-8"), ("[1,", "JSON")]:
        with pytest.raises(InvalidConfig, match=message):
            parse_json(bad)
    assert parse_json("[NaN]", allow_nan=True)[0] != parse_json("[NaN]", allow_nan=True)[0]


def test_user_text_in_messages_is_cut_short():
    assert short("abc") == "abc" and short_repr("abc") == "'abc'"
    long = short("x" * 50_000_000)
    assert len(long) < 90 and "50,000,000 characters" in long
    assert short(10**5000) == "a number too large to show"
    assert short_repr("y" * 100, 10) == "'yyyyyyyyyy'… (100 characters)"


# ---------------------------------------------------------------- the model cache heals

@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CNN_PLAYGROUND_CACHE", str(tmp_path))
    return tmp_path


TINY = TrainConfig(per_class=5, epochs=1, batch_size=50, seed=3)


def test_a_cached_model_with_malformed_metadata_is_rebuilt_and_stale_temp_files_go(cache):
    from cnn_core.training import pretrained

    model, metrics = pretrained.trained_model(TINY)
    path = pretrained.cached_path(TINY)
    good = path.read_bytes()
    buffer = io.BytesIO()
    payload = torch.load(io.BytesIO(good), weights_only=True)
    payload["meta_json"] = payload["meta_json"].replace('"test_accuracy": ', '"test_accuracy": "high", "x": ')
    torch.save(payload, buffer)
    path.write_bytes(buffer.getvalue())  # parses, but the page would crash formatting it
    stale, fresh = cache / "dead-writer.tmp", cache / "live-writer.tmp"
    stale.write_bytes(b"half")
    fresh.write_bytes(b"half")
    old = time.time() - 2 * pretrained.STALE_TMP_SECONDS
    os.utime(stale, (old, old))
    again, metrics_again = pretrained.trained_model(TINY)
    assert isinstance(metrics_again["test_accuracy"], float)
    assert load_checkpoint(path).metrics["test_accuracy"] == metrics_again["test_accuracy"]
    assert not stale.exists() and fresh.exists()
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))


def test_the_model_cache_is_bounded_by_bytes_and_files(cache):
    from cnn_core.training import pretrained

    for i in range(5):
        (cache / f"m{i}.pt").write_bytes(bytes(1000))
        os.utime(cache / f"m{i}.pt", (1000 + i, 1000 + i))
    removed = pretrained.prune_cache(cache, keep=cache / "m0.pt", max_bytes=2500, max_files=10)
    assert sorted(p.name for p in removed) == ["m1.pt", "m2.pt"]
    assert sorted(p.name for p in cache.glob("*.pt")) == ["m0.pt", "m3.pt", "m4.pt"]
    assert pretrained.prune_cache(cache, max_bytes=10**9, max_files=1) and len(list(cache.glob("*.pt"))) == 1


@pytest.mark.slow
def test_weight_init_page_at_its_widget_maxima_shows_the_budget_message(app_test):
    at = app_test("pages/5_Weight_Initialization.py", default_timeout=180)
    at.session_state["init_model"] = "plain-cnn"
    at.session_state["init_depth"] = 30
    at.session_state["init_width_plain-cnn"] = 256
    at.session_state["init_batch"] = 512
    at.run()
    assert not at.exception
    messages = [e.value for e in at.error]
    assert any("limit per run is 1.0 GiB" in m and "lower the batch size or the channels" in m for m in messages)
