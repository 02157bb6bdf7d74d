"""A network from the Architecture page exports as its class and a shape check that agree with cnn_core's model."""
from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from cnn_core import InvalidConfig, LayerSpec, build_from_specs
from cnn_core.export import architecture_script
from cnn_core.models.builder import LENET5_SPECS

NETWORKS = {
    "lenet5": (LENET5_SPECS, (1, 28, 28)),
    "small-rgb": ((LayerSpec.of("conv", out_channels=8, kernel_size=3, padding=1),
                   LayerSpec.of("activation", name="relu"), LayerSpec.of("maxpool", kernel_size=2),
                   LayerSpec.of("flatten"), LayerSpec.of("linear", out_features=5)), (3, 16, 16)),
}


@pytest.mark.parametrize("name", list(NETWORKS))
def test_exported_network_matches_the_builders_shape_and_parameters(name, tmp_path):
    specs, shape = NETWORKS[name]
    source = architecture_script(specs, shape, name)
    assert "cnn_core" not in source
    (tmp_path / f"{name}.py").write_text(source)
    done = subprocess.run([sys.executable, f"{name}.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    reference = build_from_specs(specs, shape)
    out = reference(torch.zeros(2, *shape))
    params = sum(p.numel() for p in reference.parameters())
    assert f"output_shape={'x'.join(map(str, out.shape[1:]))} params={params}" in done.stdout


def test_a_broken_network_gets_a_clear_message():
    with pytest.raises(InvalidConfig, match="cannot be exported"):
        architecture_script((LayerSpec.of("linear", out_features=5),), (1, 28, 28))
