"""Exact theoretical receptive fields, unit by unit, along the real graph of a forward pass.

A torch function mode follows every tensor through every op (convolutions, pooling, transposed
convolutions, interpolation, padding, slicing, concatenation, additions, ...) and records, for each
op and each spatial axis, *which* input indices one output index reads. The receptive field of an
output unit is then the bounding box of all input pixels it can reach, the union over every path:

- a transposed conv output reads the input positions j with s j - p + d t = i (t = 0..k-1): a 2x2
  stride-2 one reads exactly one pixel, so it adds nothing to the field;
- interpolation reads the one (nearest) or two (bilinear, zero weights left out) source pixels that
  PyTorch's own index arithmetic picks (float32, like the CPU kernels);
- a residual addition or concatenation takes the union of its branches' fields (their own offsets
  included, so branches that are not centred on the same pixel widen the field).

Fields are "theoretical": indices outside a tensor (padding) are followed as if the map went on, so a
field may be larger than the image. That is the extent of the non-zero input gradient of a unit
(with weights that cannot cancel) whenever the field lies inside the image. The field can differ from
unit to unit after upsampling (a 3x3 conv after nearest x2 reads 1 or 2 source pixels per axis); the
*size* reported for a layer is the largest over its units.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten

Reads = Callable[[int], tuple[int, ...]]   # output index -> the parent indices it reads (one axis)
Interval = tuple[int, int] | None           # first and last input pixel (inclusive); None: reads nothing

_POOL_OPS = {"max_pool2d", "avg_pool2d", "max_pool2d_with_indices"}
_ADAPTIVE_OPS = {"adaptive_avg_pool2d", "adaptive_max_pool2d"}


def _pair(value) -> tuple[int, int]:
    if isinstance(value, (int, float)):
        return int(value), int(value)
    values = list(value)
    return int(values[0]), int(values[-1])


def _arg(args: tuple, kwargs: dict, index: int, name: str, default):
    if name in kwargs and kwargs[name] is not None:
        return kwargs[name]
    return args[index] if len(args) > index and args[index] is not None else default


# ------------------------------------------------------------------ one axis of one op: output index -> reads

def window_reads(kernel: int, stride: int, padding: int, dilation: int) -> Reads:
    """Convolution / pooling: output i reads s i - p + d t for t = 0..k-1."""
    return lambda i: tuple(stride * i - padding + dilation * t for t in range(kernel))


def transposed_reads(kernel: int, stride: int, padding: int, dilation: int) -> Reads:
    """Transposed convolution: output i reads every input j with s j - p + d t = i for some tap t."""
    def reads(i: int) -> tuple[int, ...]:
        found = []
        for t in range(kernel):
            numerator = i + padding - dilation * t
            if numerator % stride == 0:
                found.append(numerator // stride)
        return tuple(sorted(found))
    return reads


def shift_reads(offset: int, step: int = 1) -> Reads:
    """Padding (offset = -pad) and slicing (offset = start, step): output i reads offset + step i."""
    return lambda i: (offset + step * i,)


def proportional_reads(size_in: int, size_out: int) -> Reads:
    """Adaptive pooling's windows: output i reads floor(i n / m) .. ceil((i + 1) n / m) - 1."""
    return lambda i: tuple(range((i * size_in) // size_out, -((-(i + 1) * size_in) // size_out)))


def interpolation_reads(mode: str, size_in: int, size_out: int, scale_factor: float | None,
                        align_corners: bool | None, dtype: torch.dtype) -> Reads:
    """The source pixels PyTorch's upsampling kernels read for one output index (zero weights left out).

    The index arithmetic is done in the kernels' precision (float32 for float32 and lower, float64 for
    double), so a weight that PyTorch computes as exactly zero is left out here too. Antialiased
    downsampling (antialias=True) is taken like its plain mode: its wider windows are not modelled."""
    real = np.float64 if dtype == torch.float64 else np.float32
    if mode == "area":
        return proportional_reads(size_in, size_out)
    if mode in ("nearest", "nearest-exact"):
        if size_out == size_in and mode == "nearest":
            return lambda i: (i,)
        if size_out == 2 * size_in and mode == "nearest":
            return lambda i: (i >> 1,)
        scale = np.float32(1.0 / scale_factor) if scale_factor else np.float32(size_in) / np.float32(size_out)
        if mode == "nearest":
            return lambda i: (int(math.floor(np.float32(i) * scale)),)
        return lambda i: (int(math.floor((i + 0.5) * float(scale))),)
    if align_corners:
        scale = real(size_in - 1) / real(size_out - 1) if size_out > 1 else real(0)
    else:
        scale = real(1.0 / scale_factor) if scale_factor else real(size_in) / real(size_out)
    cubic = mode == "bicubic"

    def reads(i: int) -> tuple[int, ...]:
        if size_out == size_in and not cubic:
            return (i,)  # PyTorch copies: weight 1 on the same index
        src = scale * real(i) if align_corners else scale * (real(i) + real(0.5)) - real(0.5)
        if src < 0 and not cubic and i >= 0:
            src = real(0)  # PyTorch clamps the first source index of linear modes at 0
        first = int(math.floor(src))
        frac = src - real(first)
        if cubic:
            return (first,) if frac == 0 else tuple(range(first - 1, first + 3))
        return (first,) if frac == 0 else (first, first + 1)
    return reads


# ------------------------------------------------------------------ the graph

@dataclass
class Node:
    """One tensor of the forward pass: its parents with their per-axis reads, or 'full' (sees everything)."""

    parents: list[tuple[int, tuple[Reads, Reads]]] = field(default_factory=list)
    full: bool = False
    shape: tuple[int, int] | None = None   # (h, w) of an N x C x h x w tensor, None otherwise
    sources: tuple[int, ...] = ()          # for full nodes: the spatial nodes whose fields feed them


class FieldTracer(TorchFunctionMode):
    """Records, for every tensor computed from the marked input, which indices of its parents it reads."""

    def __init__(self) -> None:
        super().__init__()
        self.nodes: list[Node] = []
        self.tensors: dict[int, tuple[int, torch.Tensor]] = {}  # id -> (node, the tensor, kept alive)

    def mark_input(self, x: torch.Tensor) -> int:
        """Make x the input in whose pixels fields are measured; returns its node."""
        self.nodes.append(Node(shape=tuple(x.shape[-2:]) if x.dim() == 4 else None, full=x.dim() != 4))
        self.tensors[id(x)] = (len(self.nodes) - 1, x)
        return len(self.nodes) - 1

    def node_of(self, tensor: torch.Tensor) -> int | None:
        """The node of a tracked tensor (None for weights and constants)."""
        entry = self.tensors.get(id(tensor))
        return entry[0] if entry is not None and entry[1] is tensor else None

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        self.record(getattr(func, "__name__", ""), args, kwargs, out)
        return out

    def record(self, name: str, args: tuple, kwargs: dict, out) -> None:
        """Add a node for every tensor `out` computed from tracked tensors."""
        flat = [t for t in tree_flatten((args, kwargs))[0] if isinstance(t, torch.Tensor)]
        parents = [(n, t) for n, t in ((self.node_of(t), t) for t in flat) if n is not None]
        outputs = [t for t in tree_flatten(out)[0] if isinstance(t, torch.Tensor)]
        if not parents or not outputs:
            return
        for tensor in outputs:
            self.nodes.append(self._node(name, args, kwargs, parents, tensor))
            self.tensors[id(tensor)] = (len(self.nodes) - 1, tensor)

    def _node(self, name: str, args: tuple, kwargs: dict, parents: list, out: torch.Tensor) -> Node:
        if out.dim() != 4 or shape_of(out) == (1, 1) and name in _ADAPTIVE_OPS or any(
                self.nodes[n].full for n, _ in parents):   # flatten, linear, global pooling: the whole image
            sources = {s for n, _ in parents for s in (self.nodes[n].sources if self.nodes[n].full else (n,))}
            return Node(full=True, sources=tuple(sorted(sources)))
        shape = shape_of(out)
        special = self._special(name, args, kwargs, out)
        if special is not None:
            return Node([(self.node_of(args[0]), special)], shape=shape)
        if name == "cat":
            cat = self._cat(args, kwargs, out)
            if cat is not None:
                return Node(cat, shape=shape)
        node = Node(shape=shape)
        for n, _ in _unique(parents):
            parent_shape = self.nodes[n].shape
            node.parents.append((n, tuple(_elementwise(parent_shape[a], shape[a]) for a in (0, 1))))
        return node

    def _special(self, name: str, args: tuple, kwargs: dict, out: torch.Tensor) -> tuple[Reads, Reads] | None:
        """Reads of the ops that move fields (their first argument is the tracked tensor)."""
        if not args or not isinstance(args[0], torch.Tensor) or self.node_of(args[0]) is None or args[0].dim() != 4:
            return None
        x = args[0]
        if name == "conv2d":
            weight = args[1]
            k = tuple(weight.shape[2:])
            s, d = _pair(_arg(args, kwargs, 3, "stride", 1)), _pair(_arg(args, kwargs, 5, "dilation", 1))
            padding = _arg(args, kwargs, 4, "padding", 0)
            if padding == "valid":
                p = (0, 0)
            elif padding == "same":
                p = tuple(d[a] * (k[a] - 1) // 2 for a in (0, 1))
            else:
                p = _pair(padding)
            return tuple(window_reads(k[a], s[a], p[a], d[a]) for a in (0, 1))
        if name == "conv_transpose2d":
            k = tuple(args[1].shape[2:])
            s, p = _pair(_arg(args, kwargs, 3, "stride", 1)), _pair(_arg(args, kwargs, 4, "padding", 0))
            d = _pair(_arg(args, kwargs, 7, "dilation", 1))
            return tuple(transposed_reads(k[a], s[a], p[a], d[a]) for a in (0, 1))
        if name in _POOL_OPS:
            k = _pair(_arg(args, kwargs, 1, "kernel_size", 1))
            stride = _arg(args, kwargs, 2, "stride", None)
            s = _pair(stride) if stride not in (None, [], ()) else k
            p = _pair(_arg(args, kwargs, 3, "padding", 0))
            d = _pair(_arg(args, kwargs, 4, "dilation", 1)) if "max" in name else (1, 1)
            return tuple(window_reads(k[a], s[a], p[a], d[a]) for a in (0, 1))
        if name == "lp_pool2d":
            k = _pair(_arg(args, kwargs, 2, "kernel_size", 1))
            stride = _arg(args, kwargs, 3, "stride", None)
            s = _pair(stride) if stride not in (None, [], ()) else k
            return tuple(window_reads(k[a], s[a], 0, 1) for a in (0, 1))
        if name in _ADAPTIVE_OPS:
            return tuple(proportional_reads(x.shape[2 + a], out.shape[2 + a]) for a in (0, 1))
        if name == "interpolate":
            return self._interpolate(args, kwargs, x, out)
        if name == "pad":
            pads = list(_arg(args, kwargs, 1, "pad", ())) + [0, 0, 0, 0]
            return shift_reads(-int(pads[2])), shift_reads(-int(pads[0]))  # (left, right, top, bottom)
        if name == "__getitem__":
            return self._slice(args[1] if len(args) > 1 else kwargs.get("idx"), x)
        return None

    @staticmethod
    def _interpolate(args: tuple, kwargs: dict, x: torch.Tensor, out: torch.Tensor) -> tuple[Reads, Reads]:
        mode = _arg(args, kwargs, 3, "mode", "nearest")
        align = _arg(args, kwargs, 4, "align_corners", None)
        scale = _arg(args, kwargs, 2, "scale_factor", None)
        if _arg(args, kwargs, 5, "recompute_scale_factor", None):
            scale = None  # the output size is computed first; the kernel then uses in/out
        scales = (None, None) if scale is None else (
            (float(scale), float(scale)) if isinstance(scale, (int, float)) else (float(scale[0]), float(scale[-1])))
        return tuple(interpolation_reads(mode, x.shape[2 + a], out.shape[2 + a], scales[a], align, x.dtype)
                     for a in (0, 1))

    @staticmethod
    def _slice(index, x: torch.Tensor) -> tuple[Reads, Reads] | None:
        index = index if isinstance(index, tuple) else (index,)
        if any(not isinstance(i, slice) and i is not Ellipsis for i in index) or list(index).count(Ellipsis) > 1:
            return None
        if Ellipsis in index:
            at = index.index(Ellipsis)
            index = index[:at] + (slice(None),) * (4 - len(index) + 1) + index[at + 1:]
        index = index + (slice(None),) * (4 - len(index))
        reads = []
        for a in (2, 3):
            start, _, step = index[a].indices(x.shape[a])
            reads.append(shift_reads(start, step))
        return tuple(reads)

    def _cat(self, args: tuple, kwargs: dict, out: torch.Tensor) -> list | None:
        tensors = args[0] if args else kwargs.get("tensors")
        dim = _arg(args, kwargs, 1, "dim", 0) % 4
        parents, offset = [], 0
        for t in tensors:
            n = self.node_of(t)
            if dim in (2, 3) and n is not None:
                axis, start, stop = dim - 2, offset, offset + t.shape[dim]
                inside: Reads = (lambda o, lo, hi: lambda i: (i - o,) if lo <= i < hi else ())(start, start, stop)
                same = lambda i: (i,)  # noqa: E731
                parents.append((n, (inside, same) if axis == 0 else (same, inside)))
            elif n is not None:
                parents.append((n, (lambda i: (i,), lambda i: (i,))))
            offset += t.shape[dim] if t.dim() == 4 else 0
        return parents or None

    # -------------------------------------------------------------- queries

    def intervals(self, wanted: dict[int, tuple[list[int], list[int]]]) -> dict[int, tuple[dict, dict]]:
        """Exact input-pixel intervals of units: {node: (rows, cols)} -> {node: ({row: Interval}, {col: Interval})}.

        One backward sweep collects the indices every node must know, one forward sweep fills them in."""
        result = {n: ({}, {}) for n in wanted}
        for axis in (0, 1):
            need: dict[int, set[int]] = {}
            for n, units in wanted.items():
                need.setdefault(n, set()).update(units[axis])
            for n in range(len(self.nodes) - 1, -1, -1):   # parents always come before their children
                if n not in need:
                    continue
                for parent, reads in self.nodes[n].parents:
                    bucket = need.setdefault(parent, set())
                    for i in need[n]:
                        bucket.update(reads[axis](i))
            known: dict[int, dict[int, Interval]] = {}
            for n in sorted(need):
                node = self.nodes[n]
                if not node.parents:            # the input: pixel i is its own field
                    known[n] = {i: (i, i) for i in need[n]}
                    continue
                values: dict[int, Interval] = {}
                for i in need[n]:
                    lo, hi = None, None
                    for parent, reads in node.parents:
                        table = known[parent]
                        for j in reads[axis](i):
                            got = table[j]
                            if got is not None:
                                lo = got[0] if lo is None else min(lo, got[0])
                                hi = got[1] if hi is None else max(hi, got[1])
                    values[i] = None if lo is None else (lo, hi)
                known[n] = values
            for n, units in wanted.items():
                result[n][axis].update({i: known[n][i] for i in units[axis]})
        return result

    def field_sizes(self, nodes: list[int], image_side: int) -> dict[int, int]:
        """Largest field side (height or width) over all units of each node; nodes that see the whole image
        (after flatten, linear, global pooling) get max(image side, the largest field feeding them)."""
        spatial = {n: (list(range(self.nodes[n].shape[0])), list(range(self.nodes[n].shape[1])))
                   for n in set(nodes) if not self.nodes[n].full}
        found = self.intervals(spatial)
        sizes = {n: max(max(map(_extent, rows.values())), max(map(_extent, cols.values())))
                 for n, (rows, cols) in found.items()}
        full = [n for n in set(nodes) if self.nodes[n].full]
        feeding = self.field_sizes(sorted({s for n in full for s in self.nodes[n].sources}), image_side) \
            if full else {}
        for n in full:
            sizes[n] = max([image_side, 1] + [feeding[s] for s in self.nodes[n].sources])
        return sizes


def trace_fields(model: torch.nn.Module, input_shape: tuple[int, ...]) -> tuple[FieldTracer, int, torch.Tensor]:
    """Run the model once on a zero input under a FieldTracer: (tracer, the output's node, the output)."""
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    tracer = FieldTracer()
    x = torch.zeros(1, *input_shape, device=device)
    with torch.no_grad(), tracer:
        tracer.mark_input(x)
        out = model(x)
    return tracer, tracer.node_of(out), out


def shape_of(tensor: torch.Tensor) -> tuple[int, int]:
    """(h, w) of an N x C x h x w tensor."""
    return int(tensor.shape[-2]), int(tensor.shape[-1])


def _extent(interval: Interval) -> int:
    return 0 if interval is None else interval[1] - interval[0] + 1


def _unique(parents: list) -> list:
    seen, unique = set(), []
    for n, t in parents:
        if n not in seen:
            seen.add(n)
            unique.append((n, t))
    return unique


def _elementwise(size_in: int, size_out: int) -> Reads:
    """An op that keeps the spatial size reads the same index; a broadcast 1-pixel axis reads index 0."""
    if size_in == size_out:
        return lambda i: (i,)
    if size_in == 1:
        return lambda i: (0,)
    return proportional_reads(size_in, size_out)   # an op we do not know: its nearest proportional window
