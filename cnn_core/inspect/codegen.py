"""From a layer list to things a student can read and run: a checked report, a diagram, PyTorch code.

- `check_architecture` builds a LayerSpec list safely (sizes are checked on PyTorch's 'meta'
  device first, so a 100-billion-parameter typo never allocates memory) and returns the summary.
- `architecture_dot` draws the network as a Graphviz DOT string (feature maps labelled with shapes).
- `module_code` / `sequential_code` write the network in the two styles of the lecture;
  `build_generated` executes such code and returns the model (tests compare it with the builder).
- `specs_from_model` turns a registry model (LeNet-5, the lecture ConvNet, MLPs) into a LayerSpec list.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import pandas as pd
import torch
from torch import nn

from cnn_core.errors import ArchitectureError
from cnn_core.inspect.hooks import capture_forward
from cnn_core.inspect.summary import layer_summary, summary_totals
from cnn_core.models import LAYER_KINDS, LayerSpec, build_from_specs, kind_of_module

Shape = tuple[int, ...]

MAX_PARAMS = 50_000_000            # 200 MB of float32 weights
MAX_MULT_ADDS = 5_000_000_000      # per image: a few seconds on a laptop CPU
MAX_ACTIVATIONS = 50_000_000       # values stored per image



# ---------------------------------------------------------------- checking


@dataclass
class ArchitectureReport:
    """The result of checking a layer list: the model (valid prefix when an error occurred) and its numbers."""

    specs: tuple[LayerSpec, ...]
    input_shape: Shape
    model: nn.Module | None           # the whole network, or the layers before the error (None if none)
    summary: pd.DataFrame             # layer_summary of `model` (empty without one)
    totals: dict[str, float] = field(default_factory=dict)
    shapes: list[Shape] = field(default_factory=list)  # output shape after each built layer
    error: ArchitectureError | None = None

    @property
    def ok(self) -> bool:
        """True when every layer built."""
        return self.error is None

    @property
    def error_index(self) -> int | None:
        """0-based index of the offending layer (None: no error, or an error of the whole network)."""
        return None if self.error is None else self.error.layer_index


def _meta_summary(specs: tuple[LayerSpec, ...], input_shape: Shape) -> pd.DataFrame:
    with torch.device("meta"):  # no memory: parameters and activations are shapes only
        model = build_from_specs(specs, input_shape)
    return layer_summary(model, input_shape)


def _check_limits(specs: tuple[LayerSpec, ...], input_shape: Shape) -> None:
    """Raise ArchitectureError naming the layer that makes the network too big for the playground."""
    summary = _meta_summary(specs, input_shape)
    checks = (("params", MAX_PARAMS, "parameters", "add pooling or use fewer units/channels before it"),
              ("mult_adds", MAX_MULT_ADDS, "multiply-adds per image", "use a larger stride, pooling or fewer "
                                                                     "channels"),
              ("activations", MAX_ACTIVATIONS, "activation values per image", "shrink the input or the channels"))
    for column, limit, what, hint in checks:
        total = int(summary[column].sum())
        if total > limit:
            index = int(summary[column].astype("int64").idxmax())
            raise ArchitectureError(
                f"Layer {index + 1} ({specs[index].kind}) makes the network too large: {total:,} {what} in total, "
                f"the playground allows {limit:,}; {hint}.", index)


def check_architecture(specs: tuple[LayerSpec, ...] | list[LayerSpec], input_shape: Shape) -> ArchitectureReport:
    """Build a layer list if it is valid and not too large; else report which layer is wrong and why.

    On an error with a layer index, the report still carries the model and summary of the
    layers before it, so a page can keep showing what works.
    """
    specs = tuple(specs)
    input_shape = tuple(int(v) for v in input_shape)
    error: ArchitectureError | None = None
    try:
        _check_limits(specs, input_shape)
        valid = specs
    except ArchitectureError as exc:
        error = exc
        valid = specs[:exc.layer_index] if exc.layer_index else ()
    model, summary, totals, shapes = None, pd.DataFrame(), {}, []
    if valid:
        try:
            model = build_from_specs(valid, input_shape)
        except ArchitectureError as exc:  # e.g. the prefix itself is too big: report what we know
            error = error or exc
        else:
            summary = layer_summary(model, input_shape)
            totals = summary_totals(summary, model)
            shapes = [tuple(int(v) for v in s.split("x")) for s in summary["output_shape"]]
    return ArchitectureReport(specs, input_shape, model, summary, totals, shapes, error)


def model_report(model: nn.Module, input_shape: Shape) -> ArchitectureReport:
    """The report of an existing model (a registry or pretrained network): its summary and totals, no specs."""
    summary = layer_summary(model, tuple(input_shape))
    shapes = [tuple(int(v) for v in s.split("x")) for s in summary["output_shape"]]
    return ArchitectureReport((), tuple(input_shape), model, summary, summary_totals(summary, model), shapes)


# ---------------------------------------------------------------- describing modules and diagrams


def describe_module(module: nn.Module) -> str:
    """A short label such as 'Conv2d 5x5, 6 filters, pad 2' or 'Linear 120→84' (the class name if no kind has it)."""
    kind = kind_of_module(module)
    if kind is None:
        return type(module).__name__
    try:
        return kind.describe(kind.resolve(kind.from_module(module)))
    except ArchitectureError:  # e.g. a LeakyReLU slope the builder does not have
        return type(module).__name__


def _shape_text(shape: str) -> str:
    return " × ".join(shape.split("x"))


def _dot_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def architecture_dot(model: nn.Module | None, input_shape: Shape, error: ArchitectureError | None = None,
                     specs: tuple[LayerSpec, ...] = ()) -> str:
    """A top-to-bottom Graphviz DOT graph: feature-map boxes labelled with their shapes, edges with the layers.

    Layers that keep the shape (activations, batch norm, dropout) are written on the edge of the
    layer before them. Box widths grow with the spatial size (log scale), so sub-sampling is
    visible. With an error, a red node names the offending layer.
    """
    groups: list[tuple[list[str], str]] = []  # (layer labels, output shape)
    if model is not None:
        summary = layer_summary(model, input_shape)
        current = "x".join(map(str, input_shape))
        for row in summary.itertuples():
            label = describe_module(model.get_submodule(row.layer))
            if groups and row.output_shape == current and not isinstance(
                    model.get_submodule(row.layer), (nn.Flatten, nn.Linear, nn.Conv2d)):
                groups[-1][0].append(label)  # shape-preserving layer: same edge
            else:
                groups.append(([label], row.output_shape))
            current = row.output_shape
    sizes = [int(input_shape[1])] + [int(s.split("x")[1]) for _, s in groups if s.count("x") == 2]
    largest = max(sizes) if sizes else 1

    def node(name: str, shape: str, caption: str) -> str:
        caption = f"{caption}\\n" if caption else ""
        dims = shape.split("x")
        if len(dims) == 3:
            side = int(dims[1])
            width = 0.7 + 1.3 * math.log2(1 + side) / math.log2(1 + largest)
            return (f'  {name} [label="{caption}{_shape_text(shape)}", shape=box3d, style=filled, '
                    f'fillcolor="#dbe9f6", width={width:.2f}];')
        return (f'  {name} [label="{caption}{_shape_text(shape)}", shape=box, style="rounded,filled", '
                f'fillcolor="#fde7c8", width=0.6];')

    lines = ["digraph network {", '  rankdir=TB; bgcolor="transparent"; nodesep=0.2; ranksep=0.22;',
             '  node [fontname="Helvetica", fontsize=11, color="#4c78a8", fontcolor="#1f2937", height=0.34];',
             '  edge [fontname="Helvetica", fontsize=10, color="#6b7280", fontcolor="#374151", arrowsize=0.6];',
             node("n0", "x".join(map(str, input_shape)), "input")]
    for i, (labels, shape) in enumerate(groups, start=1):
        caption = "output" if i == len(groups) and error is None else ""
        lines.append(node(f"n{i}", shape, caption))
        lines.append(f'  n{i - 1} -> n{i} [label="{_dot_escape(chr(10).join(labels))}"];'.replace("\n", "\\n"))
    if error is not None:
        index = error.layer_index
        where = f"layer {index + 1}: {specs[index].kind}" if index is not None and index < len(specs) else "error"
        lines.append(f'  bad [label="✗ {_dot_escape(where)}", shape=octagon, style=filled, fillcolor="#fde2e1", '
                     'color="#d62728", fontcolor="#b91c1c"];')
        lines.append(f'  n{len(groups)} -> bad [style=dashed, color="#d62728"];')
    lines.append("}")
    return "\n".join(lines)


# ---------------------------------------------------------------- registry models -> specs


def specs_from_model(model: nn.Module, input_shape: Shape) -> tuple[LayerSpec, ...]:
    """The layer list of a feed-forward model (LeNet-5, the lecture ConvNet, MLPs), in execution order.

    A Linear layer fed with C x H x W maps (the lecture's `x.view(-1, 16 * 5 * 5)`) gets a Flatten
    spec in front. Models with layers the builder does not have (e.g. adaptive pooling) raise
    ArchitectureError.
    """
    with capture_forward(model, keep_outputs=False) as calls, torch.no_grad():
        model(torch.zeros(1, *input_shape))
    specs: list[LayerSpec] = []
    last_shape: tuple[int, ...] = (1, *input_shape)  # what the previous layer produced (with batch)
    for call in calls:
        flattened = len(last_shape) > 2 and len(call.input_shape) == 2  # a view(-1, ...) in forward()
        last_shape = call.output_shape
        kind = kind_of_module(call.module)
        if kind is None:
            raise ArchitectureError(f"{call.name} ({type(call.module).__name__}) has no counterpart in the layer "
                                    "builder")
        try:
            params = kind.spec_params(call.module)
        except ArchitectureError as exc:
            raise ArchitectureError(f"{call.name}: {exc}") from exc
        if kind.flat_input and (len(call.input_shape) > 2 or flattened):
            specs.append(LayerSpec.of("flatten"))
        specs.append(LayerSpec.of(kind.key, **params))
    return tuple(specs)


# ---------------------------------------------------------------- code generation


def _layer_code(spec: LayerSpec, in_shape: Shape, flat_from: Shape | None = None) -> str:
    """The nn.* constructor call of one spec, given its input shape (non-default arguments only).

    `flat_from` is the C x H x W shape a linear layer's input was flattened from: its in_features
    is then written as a product, e.g. nn.Linear(16 * 5 * 5, 60) as in the lecture.
    """
    if spec.kind not in LAYER_KINDS:
        raise ArchitectureError(f"Unknown layer kind '{spec.kind}'")
    kind = LAYER_KINDS[spec.kind]
    return kind.code(kind.resolve(dict(spec.params)), in_shape, flat_from)


@functools.lru_cache(maxsize=256)
def _shape_walk(specs: tuple[LayerSpec, ...], input_shape: Shape) -> tuple[tuple[Shape, ...], int]:
    """(output shape of every layer, parameter count) of a valid layer list; cached (specs are hashable)."""
    report = check_architecture(specs, input_shape)
    if report.error is not None:
        raise report.error
    return tuple(report.shapes), int(report.totals["params"])


def shape_walk(specs: tuple[LayerSpec, ...] | list[LayerSpec], input_shape: Shape) -> tuple[tuple[Shape, ...], int]:
    """(output shape of every layer, parameter count) of a layer list, cached; ArchitectureError if it is invalid."""
    return _shape_walk(tuple(specs), tuple(int(v) for v in input_shape))


def _shapes_in_out(specs: tuple[LayerSpec, ...], input_shape: Shape) -> list[tuple[Shape, Shape]]:
    shapes = list(_shape_walk(tuple(specs), tuple(input_shape))[0])
    ins = [tuple(input_shape)] + shapes[:-1]
    return list(zip(ins, shapes))


def _dims(shape: Shape) -> str:
    return " x ".join(map(str, shape))


def _header(specs: tuple[LayerSpec, ...], input_shape: Shape, class_name: str, style: str) -> list[str]:
    params = _shape_walk(tuple(specs), tuple(input_shape))[1]
    return ["import torch", "import torch.nn as nn", "", "",
            f"class {class_name}(nn.Module):",
            f'    """{_dims(input_shape)} inputs, {params:,} parameters ({style}, generated by CNN Playground)."""',
            "", "    def __init__(self):", f"        super({class_name}, self).__init__()"]


def _aligned(pairs: list[tuple[str, str]], indent: str) -> list[str]:
    """Code lines with their shape comments lined up."""
    width = max((len(code) for code, _ in pairs), default=0)
    return [f"{indent}{code.ljust(width)}  # {comment}" if comment else f"{indent}{code}" for code, comment in pairs]


def module_code(specs: tuple[LayerSpec, ...] | list[LayerSpec], input_shape: Shape, class_name: str = "Net") -> str:
    """The network as an nn.Module subclass (lecture style: layers in __init__, the data flow in forward)."""
    specs = tuple(specs)
    shapes = _shapes_in_out(specs, input_shape)
    init: list[tuple[str, str]] = []
    forward: list[tuple[str, str]] = []
    counters: dict[str, int] = {}
    shared: set[str] = set()
    flat_from: Shape | None = None
    for spec, (in_shape, out_shape) in zip(specs, shapes):
        kind = LAYER_KINDS[spec.kind]
        out_comment = f"N x {_dims(out_shape)}"
        source, flat_from = flat_from, (in_shape if kind.view else None)
        if kind.view:  # Flatten: written as x.view(-1, C * H * W) in forward(), as in the lecture
            forward.append((f"x = x.view(-1, {' * '.join(map(str, in_shape))})", out_comment))
            continue
        if kind.shared_attr is not None:  # parameter-free: one module per setting, reused (as in the lecture)
            name = kind.shared_attr(kind.resolve(dict(spec.params)))
            if name not in shared:
                shared.add(name)
                init.append((f"self.{name} = {_layer_code(spec, in_shape)}", ""))
            forward.append((f"x = self.{name}(x)", out_comment))
            continue
        prefix = kind.prefix
        counters[prefix] = counters.get(prefix, 0) + 1
        attr = f"{prefix}{counters[prefix]}"
        init.append((f"self.{attr} = {_layer_code(spec, in_shape, source)}", _dims(out_shape)))
        forward.append((f"x = self.{attr}(x)", out_comment))
    lines = _header(specs, input_shape, class_name, "nn.Module style")
    lines += _aligned(init, " " * 8)
    lines += ["", "    def forward(self, x):", f"        # x: N x {_dims(input_shape)}"]
    lines += _aligned(forward, " " * 8)
    lines += ["        return x", ""]
    return "\n".join(lines)


def sequential_code(specs: tuple[LayerSpec, ...] | list[LayerSpec], input_shape: Shape, class_name: str = "Net"
                    ) -> str:
    """The network with nn.Sequential (lecture style: a conv backbone, x.view(...), a fully-connected head)."""
    specs = tuple(specs)
    shapes = _shapes_in_out(specs, input_shape)
    split = next((i for i, s in enumerate(specs) if LAYER_KINDS[s.kind].view), len(specs))
    backbone = list(zip(specs[:split], shapes[:split]))
    head = list(zip(specs[split + 1:], shapes[split + 1:]))
    flat_from = shapes[split][0] if split < len(specs) else None

    def head_code(position: int, spec: LayerSpec, in_shape: Shape) -> str:
        return _layer_code(spec, in_shape, flat_from if position == 0 else None)

    lines = _header(specs, input_shape, class_name, "nn.Sequential style")
    if backbone:
        lines.append("        self.backbone = nn.Sequential(")
        lines += _aligned([(f"{_layer_code(s, i)},", _dims(o)) for s, (i, o) in backbone], " " * 12)
        lines.append("        )")
    if len(head) == 1:
        (spec, (in_shape, out_shape)), = head
        lines += _aligned([(f"self.fc = {head_code(0, spec, in_shape)}", _dims(out_shape))], " " * 8)
    elif head:
        lines.append("        self.fc = nn.Sequential(")
        lines += _aligned([(f"{head_code(n, s, i)},", _dims(o)) for n, (s, (i, o)) in enumerate(head)], " " * 12)
        lines.append("        )")
    forward: list[tuple[str, str]] = []
    if backbone:
        forward.append(("x = self.backbone(x)", f"N x {_dims(backbone[-1][1][1])}"))
    if split < len(specs):
        in_shape, out_shape = shapes[split]
        forward.append((f"x = x.view(-1, {' * '.join(map(str, in_shape))})", f"N x {_dims(out_shape)}"))
    if head:
        forward.append(("x = self.fc(x)", f"N x {_dims(head[-1][1][1])}"))
    lines += ["", "    def forward(self, x):", f"        # x: N x {_dims(input_shape)}"]
    lines += _aligned(forward, " " * 8)
    lines += ["        return x", ""]
    return "\n".join(lines)


def build_generated(code: str, class_name: str = "Net") -> nn.Module:
    """Execute generated code (ours, not user input) and return a fresh instance of its class."""
    namespace: dict = {}
    exec(compile(code, f"<generated {class_name}>", "exec"), namespace)  # noqa: S102 - our own generated code
    return namespace[class_name]()


@dataclass(frozen=True)
class CodeCheck:
    """What running the generated code gave, next to the builder's network."""

    params: int
    reference_params: int
    output_shape: Shape
    reference_output_shape: Shape

    @property
    def matches(self) -> bool:
        """True when parameter count and output shape are identical."""
        return self.params == self.reference_params and self.output_shape == self.reference_output_shape


def check_generated(code: str, reference: nn.Module, input_shape: Shape, class_name: str = "Net") -> CodeCheck:
    """Run the code, count its parameters and push a 2-image batch through both networks."""
    generated = build_generated(code, class_name).eval()
    was_training = reference.training
    reference.eval()
    try:
        with torch.no_grad():
            x = torch.zeros(2, *input_shape)
            out, ref_out = generated(x), reference(x)
    finally:
        reference.train(was_training)
    return CodeCheck(sum(p.numel() for p in generated.parameters()), sum(p.numel() for p in reference.parameters()),
                     tuple(out.shape), tuple(ref_out.shape))
