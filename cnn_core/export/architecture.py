"""Export a network from the Architecture page alone: its nn.Module class and a shape check."""
from __future__ import annotations

from typing import Sequence

from cnn_core.errors import ArchitectureError, InvalidConfig
from cnn_core.export.cells import Cell, to_notebook, to_script
from cnn_core.inspect.codegen import module_code, shape_walk
from cnn_core.models import LayerSpec

SHAPE_CHECK = '''
if __name__ == "__main__":
    torch.manual_seed(0)
    model = Net()
    x = torch.zeros(2, __SHAPE__)  # a batch of 2 inputs: N x C x H x W
    with torch.no_grad():
        out = model(x)
    params = sum(p.numel() for p in model.parameters())
    print(f"output_shape={'x'.join(map(str, out.shape[1:]))} params={params}")
    assert tuple(out.shape[1:]) == __OUT__, "the output shape is not the one the playground computed"
'''


def architecture_cells(specs: Sequence[LayerSpec], input_shape: Sequence[int]) -> list[Cell]:
    """The class of a layer list and a check that pushes a batch through it."""
    specs, shape = tuple(specs), tuple(int(v) for v in input_shape)
    try:
        shapes, params = shape_walk(specs, shape)  # cached: the Architecture page has usually walked it already
        code = module_code(specs, shape)
    except ArchitectureError as exc:
        raise InvalidConfig(f"This network cannot be exported yet: {exc}") from exc
    imports, body = code.split("\n\n\n", 1)
    check = SHAPE_CHECK.replace("__SHAPE__", ", ".join(map(str, shape))).replace("__OUT__", repr(shapes[-1]))
    return [Cell("", imports),
            Cell("## The model\n\nThe lecture's **Define a Neural Network Model**: layers in `__init__`, the data "
                 "flow in `forward`; shape comments give N x C x H x W after each layer.", body),
            Cell(f"## Shape check\n\nA batch of zeros goes through; the output must be {shapes[-1]} per image, and "
                 f"the model has {params:,} parameters.", check)]


def architecture_script(specs: Sequence[LayerSpec], input_shape: Sequence[int], name: str = "network") -> str:
    """A .py script with the network's class and a shape check (plain PyTorch)."""
    return to_script(architecture_cells(specs, input_shape),
                     f"{name}: a network built on CNN Playground's Architecture page.\n\nRun: python3 {name}.py")


def architecture_notebook(specs: Sequence[LayerSpec], input_shape: Sequence[int], name: str = "network") -> str:
    """The same as an nbformat v4 notebook (JSON text)."""
    return to_notebook(architecture_cells(specs, input_shape), name,
                       "A network built on CNN Playground's Architecture page, in plain PyTorch.")
