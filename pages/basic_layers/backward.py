"""Basic Layers: the backward pass next to the forward step-through (convolution and pooling)."""
from __future__ import annotations

import pandas as pd
import streamlit as st
import torch

from cnn_core.teaching import conv_backward as back
from cnn_core.teaching.layer_ops import ConvSettings, PoolSettings, to_display
from pages.common import links
from pages.common.errors import friendly_errors
from pages.common.formulas import formula, show_formula
from pages.common.charts.palette import readable_gradient

ui = links.bound(st)  # widgets drawn through `ui` with a key live in the address bar (lesson links)

TABLE_MAX = 12  # maps up to this size are shown as numbers, larger ones as pictures


def _table(values: torch.Tensor, fmt: str = "{:.3g}", cmap: str = "RdBu"):
    frame = pd.DataFrame((values + 0.0).numpy(), index=[str(i) for i in range(values.shape[0])],
                         columns=[str(j) for j in range(values.shape[1])])
    bound = float(values.abs().max()) or 1.0
    return readable_gradient(frame.style.format(fmt), cmap, vmin=-bound, vmax=bound)


def _show(column, values: torch.Tensor, caption: str, fmt: str = "{:.3g}") -> None:
    column.caption(caption)
    if max(values.shape) <= TABLE_MAX:
        column.table(_table(values, fmt))
    else:
        column.image(to_display(values, 320), width="stretch", output_format="PNG",
                     alt=f"{caption}: a {values.shape[0]} x {values.shape[1]} map, values {float(values.min()):.3g} "
                         f"to {float(values.max()):.3g}")


def _agreement(pairs: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> None:
    worst = {name: float((mine - ref).abs().max()) for name, (mine, ref) in pairs.items()}
    scale = {name: max(1.0, float(ref.abs().max())) for name, (_, ref) in pairs.items()}
    ok = all(worst[name] <= 1e-5 * scale[name] for name in pairs)  # float32 sums in another order: ~1e-7 relative
    text = ", ".join(f"{name}: max |difference| {v:.1e}" for name, v in worst.items())
    (st.success if ok else st.error)(("Every number equals what torch.autograd computes" if ok
                                      else "Autograd DISAGREES") + f" ({text}).")


UPSTREAM = {"unit": "1 at the stepped-through output, 0 elsewhere (L = that output)",
            "ones": "all ones (L = sum of the outputs)", "random": "random integers −2..2 (seeded)"}


def upstream_choice(prefix: str, shape: tuple[int, int], at: tuple[int, int] | None = None) -> torch.Tensor:
    """dL/dY picked on the page: one output's unit gradient, all ones, or seeded integers."""
    a, b = ui.columns([3, 1])
    kinds = [k for k in UPSTREAM if at is not None or k != "unit"]
    kind = a.radio("Gradient arriving from above, dL/dY", kinds, horizontal=True, key=f"{prefix}_kind",
                   format_func=UPSTREAM.get)
    seed = int(b.number_input("Seed", 0, 10_000, 0, key=f"{prefix}_seed", disabled=kind != "random"))
    return back.upstream_gradient(shape, kind, seed, at or (0, 0))


def conv_backward_section(gray: torch.Tensor, kernel: torch.Tensor, settings: ConvSettings,
                          feature_map: torch.Tensor) -> None:
    """dL/dW, dL/dX and dL/db of the Convolution tab's layer, each next to the rule that gives it."""
    st.subheader("The backward pass")
    st.markdown("Backpropagation sends a gradient $G = \\partial L / \\partial Y$ (one number per output) down "
                "through the layer. Three rules give everything the optimizer and the layer below need. With G = 1 "
                "at the output stepped through above, dL/dW is exactly that window's patch and dL/dX is the kernel "
                "placed on the window.")
    with friendly_errors("The backward pass"):
        at = (int(st.session_state.get("conv_row", 0)), int(st.session_state.get("conv_col", 0)))  # the step above
        g = upstream_choice("bwd", tuple(feature_map.shape), at)
        grads = back.conv_backward(gray, kernel, settings, g)
        ref_w, ref_x, ref_b = back.autograd_reference(gray, kernel, settings, g)
        s, p, d = settings.stride, settings.padding, settings.dilation
        c1, c2, c3 = ui.columns(3)
        _show(c1, g, f"G = dL/dY, {g.shape[0]} x {g.shape[1]}", "{:.0f}")
        formula(c2, r"\frac{\partial L}{\partial W_{ij}} = \sum_{r,c} G_{rc}\, X_{rs+id,\; cs+jd}")
        _show(c2, grads.grad_weight, "dL/dW: cross-correlation of the (padded) input with G")
        formula(c3, r"\frac{\partial L}{\partial b} = \sum_{r,c} G_{rc}" + f" = {grads.grad_bias:.4g}")
        c3.caption("The bias was added to every output, so it collects every G.")
        k = kernel.shape[0]
        i = int(c3.number_input("Kernel row i", 0, k - 1, 0, key="bwd_i"))
        j = int(c3.number_input("Kernel column j", 0, k - 1, 0, key="bwd_j"))
        terms, _ = back.weight_grad_terms(gray, settings, g, k, i, j)
        st.code(f"dL/dW[{i},{j}] = {terms}", language=None, wrap_lines=True)
        show_formula(r"\frac{\partial L}{\partial X} = \operatorname{full\,conv}\big(G \text{ spread by } s, "
                 r"\ \mathrm{rot}_{180^\circ}(W) \text{ dilated by } d\big) \text{ with the padding } p \text{ cut off}"
                 + rf"\qquad (s={s},\ d={d},\ p={p})")
        e1, e2, e3 = ui.columns(3)
        _show(e1, grads.spread_upstream, f"G spread by the stride ({s - 1} zeros between values) and padded by "
                                         f"d(k-1) = {d * (k - 1)}", "{:.0f}")
        _show(e2, grads.flipped_kernel, "The kernel flipped (rotated 180°)")
        _show(e3, grads.grad_input, f"dL/dX, {gray.shape[0]} x {gray.shape[1]}: what the layer below receives")
        _agreement({"dL/dW": (grads.grad_weight, ref_w), "dL/dX": (grads.grad_input, ref_x),
                    "dL/db": (torch.tensor(grads.grad_bias), torch.tensor(ref_b))})


def pool_backward_section(fmap: torch.Tensor, settings: PoolSettings, out_shape: tuple[int, int]) -> None:
    """Max pooling routes each gradient to its winner; average pooling shares it over the window."""
    st.subheader("The backward pass")
    st.markdown("Pooling has no weights: it only passes $G = \\partial L / \\partial Y$ down. **Max** pooling "
                "sends each value to the input that won its window (the others get 0); **average** pooling "
                "shares it equally among the window's inputs (divided by the window size).")
    with friendly_errors("The pooling backward pass"):
        g = upstream_choice("pbwd", out_shape)
        routed = back.pool_backward(fmap, "max", settings, g)
        avg_shape = (settings.output_size(fmap.shape[0], "avg"), settings.output_size(fmap.shape[1], "avg"))
        g_avg = g if avg_shape == tuple(g.shape) else back.upstream_gradient(avg_shape, "ones")
        shared = back.pool_backward(fmap, "avg", settings, g_avg)
        refs = [back.pool_autograd_reference(fmap, "max", settings, g),
                back.pool_autograd_reference(fmap, "avg", settings, g_avg)]
        c1, c2, c3 = ui.columns(3)
        _show(c1, g, f"G = dL/dY, {g.shape[0]} x {g.shape[1]}", "{:.0f}")
        _show(c2, routed, "MaxPool2d: dL/dX (each G to the winner; a double winner adds up)", "{:.3g}")
        _show(c3, shared, "AvgPool2d: dL/dX (each G shared by its window)" +
              ("" if g_avg is g else "; G = ones here (its output has another shape)"), "{:.3g}")
        _agreement({"max": (routed, refs[0]), "avg": (shared, refs[1])})
