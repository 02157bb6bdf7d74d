"""cnn_core.inspect.codegen: checked layer lists, diagrams and generated PyTorch code, against PyTorch itself."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from cnn_core.errors import ArchitectureError
from cnn_core.inspect import codegen
from cnn_core.inspect.summary import layer_summary
from cnn_core.models import LENET5_SPECS, LayerSpec, ModelOptions, build_from_specs, build_model

L = LayerSpec.of

# Hand-computed LeNet-5 (28x28 input, C1 padded by 2): receptive field r_out = r_in + (k - 1) * jump,
# jump *= stride.  C1: 1 + 4 = 5; S2: 5 + 1*1 = 6 (jump 2); C3: 6 + 4*2 = 14; S4: 14 + 1*2 = 16 (jump 4);
# C5: 16 + 4*4 = 32.
LENET_RF = {"C1": 5, "S2": 6, "C3": 14, "S4": 16, "C5": 32}
# parameters: C1 6*(1*25)+6, C3 16*(6*25)+16, C5 120*(16*25)+120, F6 84*120+84, output 10*84+10
LENET_PARAMS = {"C1": 156, "C3": 2416, "C5": 48120, "F6": 10164, "OUT": 850}

VARIED_SPECS = {
    "lenet5": (LENET5_SPECS, (1, 28, 28)),
    "everything": ((
        L("conv", out_channels=8, kernel_size=3, padding=1, padding_mode="reflect", bias=False),
        L("batchnorm"), L("activation", name="leaky_relu"),
        L("conv", out_channels=8, kernel_size=3, groups=4, dilation=2, stride=2, padding=2,
          padding_mode="circular"),
        L("activation", name="gelu"), L("maxpool", kernel_size=3, stride=2, padding=1, dilation=1, ceil_mode=True),
        L("avgpool", kernel_size=2, ceil_mode=True), L("dropout", p=0.25), L("flatten"), L("batchnorm"),
        L("linear", out_features=32), L("activation", name="elu"), L("linear", out_features=5, bias=False),
        L("activation", name="sigmoid")), (3, 20, 20)),
    "mlp": ((L("flatten"), L("linear", out_features=64), L("activation", name="tanh"),
             L("linear", out_features=10)), (1, 12, 12)),
    "all-conv": ((L("conv", out_channels=4, kernel_size=5), L("activation", name="relu"),
                  L("maxpool", kernel_size=2)), (2, 16, 16)),
}


def test_lenet5_receptive_fields_match_the_hand_computed_table():
    for model in (build_model("lenet5-modern"), build_model("lenet5-classic"),
                  codegen.check_architecture(LENET5_SPECS, (1, 28, 28)).model):
        summary = layer_summary(model, (1, 28, 28))
        spatial = summary[summary["type"].isin(["Conv2d", "MaxPool2d", "AvgPool2d"])]
        assert dict(zip(LENET_RF, spatial["receptive_field"])) == LENET_RF


def test_check_architecture_counts_equal_pytorch():
    report = codegen.check_architecture(LENET5_SPECS, (1, 28, 28))
    assert report.ok and report.error_index is None
    model = build_from_specs(LENET5_SPECS, (1, 28, 28))
    assert report.totals["params"] == sum(p.numel() for p in model.parameters()) == 61_706
    with_params = report.summary[report.summary["params"] > 0]
    assert dict(zip(LENET_PARAMS, with_params["params"])) == LENET_PARAMS
    # mult-adds by hand: C1 6*28*28 outputs x 25, C3 16*10*10 x 150, C5 120 x 400, F6 120*84, out 84*10
    assert report.totals["mult_adds"] == 6 * 28 * 28 * 25 + 16 * 100 * 150 + 120 * 400 + 120 * 84 + 84 * 10
    x = torch.zeros(1, 1, 28, 28)
    for module, shape in zip(model, report.shapes):
        x = module(x)
        assert tuple(x.shape[1:]) == shape
    assert report.totals["activation_mb"] == pytest.approx(
        sum(torch.Size(s).numel() for s in report.shapes) * 4 / 2**20)


@pytest.mark.parametrize("name", list(VARIED_SPECS))
@pytest.mark.parametrize("writer", [codegen.module_code, codegen.sequential_code])
def test_generated_code_runs_and_computes_the_same_function(name, writer):
    specs, shape = VARIED_SPECS[name]
    reference = codegen.check_architecture(specs, shape).model.eval()
    code = writer(specs, shape)
    compile(code, "generated", "exec")
    generated = codegen.build_generated(code).eval()
    assert sum(p.numel() for p in generated.parameters()) == sum(p.numel() for p in reference.parameters())
    # both register their parameters in layer order: copy the builder's weights over, compare outputs
    with torch.no_grad():
        for mine, theirs in zip(generated.parameters(), reference.parameters()):
            mine.copy_(theirs)
        for mine, theirs in zip(generated.buffers(), reference.buffers()):
            mine.copy_(theirs)
        x = torch.randn(3, *shape, generator=torch.Generator().manual_seed(0))
        assert torch.allclose(generated(x), reference(x), atol=1e-6)
    check = codegen.check_generated(code, reference, shape)
    assert check.matches and check.output_shape[0] == 2


def test_generated_code_reads_like_the_lecture():
    lecture = build_model("convnet-lecture")
    specs = codegen.specs_from_model(lecture, (3, 12, 12))
    assert [s.kind for s in specs] == ["conv", "activation", "avgpool", "flatten", "linear"]
    sequential = codegen.sequential_code(specs, (3, 12, 12))
    assert "self.backbone = nn.Sequential(" in sequential
    assert "nn.Conv2d(3, 16, kernel_size=3)" in sequential and "nn.AvgPool2d(2, 2)" in sequential
    assert "self.fc = nn.Linear(16 * 5 * 5, 60)" in sequential and "x = x.view(-1, 16 * 5 * 5)" in sequential
    module = codegen.module_code(specs, (3, 12, 12))
    assert "self.relu = nn.ReLU()" in module and module.count("self.relu = ") == 1
    assert "def forward(self, x):" in module and "# N x 16 x 5 x 5" in module
    assert sum(p.numel() for p in codegen.build_generated(module).parameters()) == 24_508


@pytest.mark.parametrize("name,shape", [("lenet5-modern", (1, 28, 28)), ("lenet5-classic", (1, 32, 32)),
                                        ("convnet-lecture-seq", (3, 12, 12)), ("mlp", (1, 28, 28)),
                                        ("deep-mlp", (3, 32, 32))])
def test_registry_models_become_equivalent_layer_lists(name, shape):
    model = build_model(name, ModelOptions(in_channels=shape[0], image_size=shape[1], depth=3))
    specs = codegen.specs_from_model(model, shape)
    rebuilt = build_from_specs(specs, shape)
    assert sum(p.numel() for p in rebuilt.parameters()) == sum(p.numel() for p in model.parameters())
    with torch.no_grad():
        for mine, theirs in zip(rebuilt.parameters(), model.parameters()):
            mine.copy_(theirs)
        x = torch.randn(2, *shape)
        assert torch.allclose(rebuilt.eval()(x), model.eval()(x), atol=1e-6)


def test_models_the_builder_cannot_express_say_so():
    with pytest.raises(ArchitectureError, match="AdaptiveAvgPool2d"):
        codegen.specs_from_model(build_model("plain-cnn", ModelOptions(depth=2)), (1, 28, 28))


@pytest.mark.parametrize("specs,index,message", [
    ((L("conv", kernel_size=5), L("conv", kernel_size=30)), 1, "kernel spans 30x30"),
    ((L("conv", out_channels=4), L("linear", out_features=3)), 1, "add a Flatten layer"),
    ((L("conv", out_channels=4), L("conv", in_channels=3)), 1, "in_channels=3 but the previous layer outputs 4"),
    ((L("flatten"), L("maxpool")), 1, "move it before the Flatten"),
    ((L("conv", out_channels=6, groups=4),), 0, "groups=4 must divide"),
])
def test_invalid_layers_are_named_and_the_prefix_still_builds(specs, index, message):
    report = codegen.check_architecture(specs, (1, 28, 28))
    assert not report.ok and report.error_index == index and message in str(report.error)
    assert len(report.shapes) == index and (report.model is None) == (index == 0)
    dot = codegen.architecture_dot(report.model, (1, 28, 28), report.error, report.specs)
    assert f"layer {index + 1}: {specs[index].kind}" in dot


def test_a_network_too_large_for_the_playground_is_refused_without_allocating_it():
    specs = (L("flatten"), L("linear", out_features=4096))  # 805 million weights: 3 GB if it were built
    report = codegen.check_architecture(specs, (3, 256, 256))
    assert report.error_index == 1 and "too large" in str(report.error) and "805,310,464" in str(report.error)
    assert report.model is not None and len(report.shapes) == 1  # the Flatten before it is fine


def test_architecture_dot_labels_every_feature_map():
    report = codegen.check_architecture(LENET5_SPECS, (1, 28, 28))
    dot = codegen.architecture_dot(report.model, (1, 28, 28))
    assert dot.startswith("digraph") and dot.rstrip().endswith("}")
    for shape in ("1 × 28 × 28", "6 × 28 × 28", "6 × 14 × 14", "16 × 10 × 10", "16 × 5 × 5", "120 × 1 × 1",
                  "84", "output\\n10"):
        assert shape in dot
    assert dot.count("->") == 8  # activations ride on the edge of the layer before them
    assert 'label="Conv2d 5x5, 6 filters, pad 2\\nReLU"' in dot


def test_describe_module():
    assert codegen.describe_module(nn.Conv2d(3, 8, 3, stride=2, padding=1, groups=1, bias=False)) == \
        "Conv2d 3x3, 8 filters, stride 2, pad 1, no bias"
    assert codegen.describe_module(nn.MaxPool2d(3, 2, ceil_mode=True)) == "MaxPool 3x3, stride 2, ceil"
    assert codegen.describe_module(nn.Linear(120, 84)) == "Linear 120→84"


def test_pretrained_choices_offer_resnet18_only_when_its_weights_are_cached(monkeypatch):
    from cnn_core.experiments import architectures
    from cnn_core.training import zoo

    monkeypatch.setattr(zoo, "torchvision_weights_cached", lambda key: False)
    assert list(architectures.pretrained_choices()) == ["efficientnet-lite0"]
    monkeypatch.setattr(zoo, "torchvision_weights_cached", lambda key: key == "resnet18")
    assert list(architectures.pretrained_choices()) == ["efficientnet-lite0", "resnet18"]


def test_model_report_of_a_registry_model_counts_like_pytorch():
    model = build_model("convnet-lecture")
    report = codegen.model_report(model, (3, 12, 12))
    assert report.ok and report.specs == () and report.totals["params"] == 24_508
    assert report.shapes[-1] == tuple(model(torch.zeros(1, 3, 12, 12)).shape[1:])
