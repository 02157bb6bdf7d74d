"""The layer-kind registry (cnn_core.models.layer_kinds) against PyTorch itself.

Every kind's output-shape formula is compared with the shape torch computes on many random
settings; ConvTranspose2d and Upsample designs go through the builder, JSON, the code generator
and specs_from_model and must compute the same function; error messages name the formula, the
numbers and a fix that really works.
"""
from __future__ import annotations

import random

import pytest
import torch
from torch import nn

from cnn_core.errors import ArchitectureError
from cnn_core.inspect import codegen
from cnn_core.models import (ACTIVATIONS, LAYER_DEFAULTS, LAYER_KINDS, LayerSpec, build_from_specs, kind_of_module,
                             specs_from_json, specs_to_json)

L = LayerSpec.of
N_RANDOM = 150  # random settings per kind


def torch_shape(module: nn.Module, shape: tuple[int, ...]) -> tuple[int, ...] | None:
    """What PyTorch itself outputs for one sample of this shape (None when it refuses or gives an empty map)."""
    try:
        with torch.no_grad():
            out = module.eval()(torch.zeros(1, *shape))
    except RuntimeError:
        return None
    return tuple(out.shape[1:]) if out.numel() else None


def random_params(kind: str, rng: random.Random) -> dict:
    """A random setting of a spatial kind, including many that cannot work."""
    if kind == "convtranspose":
        return {"out_channels": rng.choice([2, 4, 6]), "kernel_size": rng.randint(1, 6), "stride": rng.randint(1, 4),
                "padding": rng.randint(0, 5), "output_padding": rng.randint(0, 3), "dilation": rng.randint(1, 3),
                "groups": rng.choice([1, 2]), "bias": rng.random() < 0.5}
    if kind == "upsample":
        return {"scale_factor": rng.choice([0.1, 0.25, 0.5, 0.7, 1, 1.5, 2, 2.5, 3, 4]),
                "mode": rng.choice(["nearest", "bilinear"])}
    if kind == "conv":
        return {"out_channels": rng.choice([2, 4]), "kernel_size": rng.randint(1, 7), "stride": rng.randint(1, 4),
                "padding": rng.randint(0, 3), "dilation": rng.randint(1, 3), "groups": rng.choice([1, 2])}
    params = {"kernel_size": rng.randint(1, 5), "stride": rng.choice([None, 1, 2, 3]), "padding": rng.randint(0, 2),
              "ceil_mode": rng.random() < 0.5}
    return {**params, "dilation": rng.randint(1, 2)} if kind == "maxpool" else params


@pytest.mark.parametrize("kind", ["convtranspose", "upsample", "conv", "maxpool", "avgpool"])
def test_output_shape_formula_equals_torch_on_random_settings(kind):
    rng = random.Random(f"{kind}-0")
    entry, built, refused = LAYER_KINDS[kind], 0, 0
    for _ in range(N_RANDOM):
        params = random_params(kind, rng)
        shape = (rng.choice([2, 4]), rng.randint(1, 12), rng.randint(1, 12))
        try:
            module, formula = entry.build(params, shape)
        except ArchitectureError:
            refused += 1
            p = entry.resolve(params)
            reference = {"convtranspose": lambda: nn.ConvTranspose2d(
                shape[0], p["out_channels"], p["kernel_size"], p["stride"], p["padding"], p["output_padding"],
                p["groups"], dilation=p["dilation"]),
                "upsample": lambda: nn.Upsample(scale_factor=p["scale_factor"], mode=p["mode"]),
                "conv": lambda: nn.Conv2d(shape[0], p["out_channels"], p["kernel_size"], p["stride"], p["padding"],
                                          p["dilation"], p["groups"])}.get(kind)
            if reference is not None:  # what the builder refuses, torch refuses too (or it outputs nothing)
                try:
                    assert torch_shape(reference(), shape) is None, (params, shape)
                except (ValueError, RuntimeError):
                    pass
            continue
        built += 1
        assert formula == torch_shape(module, shape), (params, shape)
    assert built > 30 and refused > 5  # both sides of the rule were exercised


def test_every_kind_reads_back_what_it_built():
    shapes = {"linear": (12,), "batchnorm": (3, 8, 8)}
    for key, kind in LAYER_KINDS.items():
        params = kind.defaults
        assert kind.problems(params) == [], key
        shape = shapes.get(key, (4, 8, 8))
        module, formula = kind.build(params, shape)
        assert formula == torch_shape(module, shape), key
        assert kind_of_module(module) is kind, key
        again, _ = kind.build(kind.spec_params(module), shape)  # what specs_from_model reads builds the same
        assert type(again) is type(module) and again.extra_repr() == module.extra_repr(), key
        assert codegen.describe_module(module) == kind.describe(kind.resolve(kind.from_module(module)))
        code = kind.code(params, shape, None)
        rebuilt = eval(code, {"nn": nn})  # noqa: S307 - our own generated one-liner
        assert type(rebuilt) is type(module) and rebuilt.extra_repr() == module.extra_repr(), (key, code)


def test_activation_registry_is_the_one_source():
    for name, spec in ACTIVATIONS.items():
        module = spec.factory()
        assert type(module) is spec.module_type
        generated = eval(spec.code, {"nn": nn})  # noqa: S307
        assert type(generated) is spec.module_type and generated.extra_repr() == module.extra_repr()
        assert spec.same_settings(module)
        nn.init.calculate_gain(spec.init_gain_name)  # a name torch knows
        assert codegen.describe_module(module) == spec.label == type(module).__name__
    assert LAYER_KINDS["activation"].params["name"].choices == tuple(ACTIVATIONS)
    with pytest.raises(ArchitectureError, match="settings the layer builder does not have"):
        codegen.specs_from_model(nn.Sequential(nn.LeakyReLU(0.2)), (1, 4, 4))


UPSAMPLING_DESIGNS = {
    "encoder-decoder": ((
        L("conv", out_channels=4, kernel_size=3, padding=1), L("activation", name="relu"), L("maxpool"),
        L("convtranspose", out_channels=6, kernel_size=3, stride=2, padding=1, output_padding=1, bias=False),
        L("batchnorm"), L("activation", name="tanh"),
        L("upsample", scale_factor=2, mode="bilinear"), L("conv", out_channels=2, kernel_size=1),
        L("upsample", scale_factor=1.5), L("flatten"), L("linear", out_features=3)), (3, 10, 10)),
    "dilated-grouped-transpose": ((
        L("convtranspose", out_channels=4, kernel_size=3, stride=3, padding=2, dilation=2, groups=2,
          output_padding=2), L("upsample", scale_factor=0.5)), (2, 5, 7)),
}


@pytest.mark.parametrize("name", list(UPSAMPLING_DESIGNS))
@pytest.mark.parametrize("writer", [codegen.module_code, codegen.sequential_code])
def test_generated_code_with_transposed_convs_and_upsampling_computes_the_same_function(name, writer):
    specs, shape = UPSAMPLING_DESIGNS[name]
    report = codegen.check_architecture(specs, shape)
    assert report.ok, report.error
    reference = report.model.eval()
    generated = codegen.build_generated(writer(specs, shape)).eval()
    torch.manual_seed(0)
    with torch.no_grad():
        for mine, theirs in zip(generated.parameters(), reference.parameters()):
            theirs.normal_()
            mine.copy_(theirs)
        x = torch.randn(2, *shape, generator=torch.Generator().manual_seed(1))
        assert torch.allclose(generated(x), reference(x), atol=1e-5)
    assert sum(p.numel() for p in generated.parameters()) == sum(p.numel() for p in reference.parameters())


@pytest.mark.parametrize("name", list(UPSAMPLING_DESIGNS))
def test_json_round_trip_and_specs_from_model_with_the_new_kinds(name):
    specs, shape = UPSAMPLING_DESIGNS[name]
    again, again_shape = specs_from_json(specs_to_json(specs, shape))
    assert again == specs and again_shape == shape
    model = build_from_specs(specs, shape)
    recovered = codegen.specs_from_model(model, shape)
    assert [s.kind for s in recovered] == [s.kind for s in specs]
    rebuilt = build_from_specs(recovered, shape)
    with torch.no_grad():
        for mine, theirs in zip(rebuilt.parameters(), model.parameters()):
            mine.copy_(theirs)
        x = torch.randn(2, *shape, generator=torch.Generator().manual_seed(2))
        assert torch.allclose(rebuilt.eval()(x), model.eval()(x), atol=1e-6)


def test_a_transposed_conv_with_an_empty_output_names_the_formula_the_numbers_and_a_fix():
    spec = L("convtranspose", out_channels=2, kernel_size=2, stride=1, padding=3)
    with pytest.raises(ArchitectureError) as err:
        build_from_specs((spec,), (1, 4, 4))
    message = str(err.value)
    assert err.value.layer_index == 0 and message.startswith("Layer 1 (convtranspose): ")
    assert "(H - 1) x stride - 2 x padding + dilation x (kernel_size - 1) + output_padding + 1" in message
    assert "(4 - 1) x 1 - 2 x 3 + 1 x (2 - 1) + 0 + 1 = -1" in message and "lower padding to <= 2" in message
    with pytest.raises(RuntimeError):  # torch agrees that this cannot run
        nn.ConvTranspose2d(1, 2, 2, padding=3)(torch.zeros(1, 1, 4, 4))
    fixed = build_from_specs((L("convtranspose", out_channels=2, kernel_size=2, stride=1, padding=2),), (1, 4, 4))
    assert fixed(torch.zeros(1, 1, 4, 4)).shape == (1, 2, 1, 1)  # the suggested padding works


def test_upsampling_to_nothing_and_a_bad_output_padding_are_refused_with_the_reason():
    with pytest.raises(ArchitectureError) as err:
        build_from_specs((L("upsample", scale_factor=0.1),), (1, 4, 4))
    assert "floor(H x scale_factor) = floor(4 x 0.1) = 0" in str(err.value)
    assert "raise scale_factor to >= 0.25" in str(err.value)
    assert build_from_specs((L("upsample", scale_factor=0.25),), (1, 4, 4))(torch.zeros(1, 1, 4, 4)).shape[-1] == 1
    with pytest.raises(ArchitectureError, match="output_padding 2 must be smaller than stride 2 or dilation 1"):
        build_from_specs((L("convtranspose", output_padding=2),), (1, 4, 4))
    with pytest.raises((RuntimeError, ValueError)):  # torch refuses it too
        nn.ConvTranspose2d(1, 8, 2, stride=2, output_padding=2)(torch.zeros(1, 1, 4, 4))
    with pytest.raises(ArchitectureError, match="scale_factor must be a number in"):
        specs_from_json('{"layers": [{"kind": "upsample", "scale_factor": "big"}]}')
    with pytest.raises(ArchitectureError, match="mode must be one of nearest, bilinear"):
        specs_from_json('{"layers": [{"kind": "upsample", "mode": "bicubic"}]}')


def test_the_fix_a_kernel_message_suggests_really_builds():
    rng = random.Random(3)
    seen = 0
    for _ in range(200):
        side, k, d, p = rng.randint(1, 9), rng.randint(1, 9), rng.randint(1, 3), rng.randint(0, 2)
        spec = dict(out_channels=2, kernel_size=k, dilation=d, padding=p)
        try:
            build_from_specs((L("conv", **spec),), (1, side, side))
            continue
        except ArchitectureError as exc:
            message = str(exc)
        seen += 1
        max_k = int(message.split("lower kernel_size to <= ")[1].split(" ")[0])
        pad = int(message.split("or set padding to ")[1])
        build_from_specs((L("conv", **{**spec, "kernel_size": max_k}),), (1, side, side))
        build_from_specs((L("conv", **{**spec, "padding": pad}),), (1, side, side))
        with pytest.raises(ArchitectureError):  # and the hint is tight: one more does not fit
            build_from_specs((L("conv", **{**spec, "kernel_size": max_k + 1}),), (1, side, side))
    assert seen > 20
    with pytest.raises(ArchitectureError, match="kernel spans 7x7 .* lower kernel_size to <= 5 or set padding to 1"):
        build_from_specs((L("conv", kernel_size=7),), (1, 5, 5))


def test_other_fixes_are_named():
    cases = [((L("conv", out_channels=4), L("conv", in_channels=3)), "set in_channels to 4 or leave it empty"),
             ((L("flatten"), L("linear", in_features=99)), "set in_features to 36 or leave it empty"),
             ((L("conv", out_channels=6, groups=4),), "use groups 1 or change out_channels"),
             ((L("maxpool", kernel_size=2, padding=2),), "lower padding to <= 1 or raise kernel_size to >= 4"),
             ((L("maxpool", kernel_size=4), L("maxpool", kernel_size=3)), "window does not fit the 1x1 input: lower "
                                                                           "kernel_size to <= 1")]
    for specs, fix in cases:
        with pytest.raises(ArchitectureError, match=fix.replace("(", r"\(")):
            build_from_specs(specs, (1, 6, 6))


def test_layer_defaults_and_explanations_are_views_of_the_registry():
    assert set(LAYER_DEFAULTS) == set(LAYER_KINDS) >= {"conv", "convtranspose", "upsample", "linear"}
    for key, kind in LAYER_KINDS.items():
        assert LAYER_DEFAULTS[key] == kind.defaults and kind.explanation and kind.label
        assert all(p.problem(p.default) is None for p in kind.params.values())


def test_the_builder_ui_reads_labels_fields_and_automatic_values_from_the_registry():
    from pages.architecture import builder as ui
    for key, kind in LAYER_KINDS.items():
        layer = ui._layer_from_spec(LayerSpec.of(key), uid=0)
        assert ui.describe(layer).startswith(f"**{kind.describe(kind.defaults).split(' ')[0]}**")
        assert ui.layers_to_specs([layer])[0] == LayerSpec.of(key, **kind.defaults)
        for name, param in kind.params.items():  # every default fits its widget unchanged
            assert ui._widget_value(param, param.default) == param.default, (key, name)
    automatic = {(key, name): p.auto for key, kind in LAYER_KINDS.items() for name, p in kind.params.items() if p.auto}
    assert automatic == {("conv", "in_channels"): "auto", ("convtranspose", "in_channels"): "auto",
                         ("linear", "in_features"): "auto", ("maxpool", "stride"): "= kernel_size",
                         ("avgpool", "stride"): "= kernel_size"}
