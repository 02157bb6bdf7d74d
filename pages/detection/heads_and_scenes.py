"""Detection page, part 1: drawing helpers, one backbone / three heads, the digit scenes, sliding vs FCN."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st
import torch
from PIL import Image, ImageDraw, ImageFont

from cnn_core.errors import PlaygroundError
from cnn_core.vision.detect_train import cached_scenes
from cnn_core.vision.heads import HEADS, BackboneConfig, VisionNet, output_meaning
from cnn_core.vision.scenes import SceneConfig
from cnn_core.vision.sliding import compare_costs, fcn_scores, fully_convolutional, pad_scene
from pages.common import links
from pages.common.wording import plural

ui = links.bound(st)  # widgets drawn through `ui` with a key live in the address bar (lesson links)

COLORS = ["#e6194b", "#3cb44b", "#ffe119", "#4363d8", "#f58231", "#911eb4", "#46f0f0", "#f032e6", "#bcf60c",
          "#fabebe"]
MASK_COLORS = np.array([[0, 0, 0]] + [[int(c[i:i + 2], 16) for i in (1, 3, 5)] for c in COLORS], dtype=np.uint8)


def label_font(image_width: int) -> ImageFont.FreeTypeFont:
    """A label font 12 px or more once the image is shown in a page column (a 256 px scene shrinks to ~215 px)."""
    return ImageFont.load_default(size=max(15, round(image_width / 36)))


def draw_boxes(image: torch.Tensor | np.ndarray | Image.Image, boxes: torch.Tensor, labels: list[str] | None = None,
               scale: int = 4, colors: list[str] | None = None, width: int = 2) -> Image.Image:
    """An image (H x W in [0, 1], or a PIL image) enlarged `scale` times with xyxy boxes and their labels.

    A label sits on a tag of its box's colour (dark text on light colours), so it stays readable on any image.
    """
    if isinstance(image, Image.Image):
        canvas = image.convert("RGB")
    else:
        pixels = (np.asarray(image, dtype=np.float32).clip(0, 1) * 255).astype(np.uint8)
        canvas = Image.fromarray(pixels).convert("RGB")
    canvas = canvas.resize((canvas.width * scale, canvas.height * scale), Image.NEAREST)
    pen, font = ImageDraw.Draw(canvas), label_font(canvas.width)
    for k, box in enumerate(boxes.tolist()):
        color = (colors or COLORS)[k % len(colors or COLORS)]
        x1, y1, x2, y2 = (v * scale for v in box)
        pen.rectangle([x1, y1, max(x1, x2 - 1), max(y1, y2 - 1)], outline=color, width=width)
        if labels:
            left, top, right, bottom = pen.textbbox((0, 0), labels[k], font=font)
            tag_h = bottom + 3
            y = y1 - tag_h if y1 - tag_h >= 0 else y1  # above the box, or inside it at the image's top edge
            x = min(max(x1, 0), max(0, canvas.width - right - 4))
            pen.rectangle([x, y, x + right + 4, y + tag_h], fill=color)
            pen.text((x + 2, y + 1), labels[k], fill=text_color(color), font=font)
    return canvas


def text_color(hex_color: str) -> str:
    """Black on a light colour, white on a dark one (by the colour's luminance)."""
    r, g, b = (int(hex_color[i:i + 2], 16) for i in (1, 3, 5))
    return "#000000" if 0.299 * r + 0.587 * g + 0.114 * b > 140 else "#ffffff"


def digit_colors(digits) -> list[str]:
    """One colour per box by its digit (the same colours as the masks)."""
    return [COLORS[int(d) % len(COLORS)] for d in digits]


def color_key(what: str) -> None:
    """A legend under box pictures: the colour of each digit."""
    chips = "".join(f'<span style="display:inline-block;margin-right:.6em;white-space:nowrap">'
                    f'<span style="display:inline-block;width:.9em;height:.9em;background:{c};'
                    f'border:1px solid #888;vertical-align:middle;margin-right:.25em"></span>{d}</span>'
                    for d, c in enumerate(COLORS))
    st.html(f'<div style="font-size:0.875rem;color:#555">{what}: {chips}</div>')


def mask_image(mask: torch.Tensor, scale: int = 4) -> Image.Image:
    """A class mask H x W (0 = background, 1 + digit) in colours, enlarged."""
    rgb = MASK_COLORS[mask.numpy().clip(0, 10)]
    return Image.fromarray(rgb).resize((mask.shape[1] * scale, mask.shape[0] * scale), Image.NEAREST)


def scene_settings(prefix: str) -> SceneConfig:
    """Widgets for a set of scenes -> a SceneConfig."""
    c = ui.columns(5)
    split = c[0].selectbox("Digits from split", ["train", "val", "test"], key=f"{prefix}_split")
    seed = c[1].number_input("Scene seed", 0, 10_000, 0, key=f"{prefix}_seed")
    digits = c[2].slider("Digits per scene (max)", 0, 5, 5, key=f"{prefix}_digits")
    overlap = c[3].slider("Max overlap (IoU)", 0.0, 0.6, 0.0, 0.05, key=f"{prefix}_overlap")
    clutter = c[4].slider("Clutter fragments", 0, 10, 0, key=f"{prefix}_clutter")
    return SceneConfig(split=split, count=8, seed=int(seed), min_digits=min(1, digits), max_digits=digits,
                       max_overlap=overlap, clutter=clutter)


def scenes_section() -> None:
    """Samples of the seeded digit scenes with their exact boxes and masks."""
    st.markdown("Every scene pastes 1-5 real MNIST digits at random positions and sizes on a 64 x 64 canvas. "
                "The **box** is the tight box of the digit's ink (pixels above 0.3), the **mask** marks every "
                "ink pixel with 1 + its digit (0 = background). Clutter fragments are ink without a box.")
    cfg = scene_settings("sc")
    try:
        scenes = cached_scenes(cfg)
    except PlaygroundError as exc:
        st.error(str(exc))
        return
    columns = ui.columns(4)
    for i in range(len(scenes)):
        names = [str(int(k)) for k in scenes.labels[i]]
        with columns[i % 4]:
            st.image(draw_boxes(scenes.images[i, 0], scenes.boxes[i], names, colors=digit_colors(names)),
                     caption=f"scene {i}: {plural(len(names), 'digit')}" if names else f"scene {i}: no objects", alt=f"scene {i}: {plural(len(names), 'digit')}" if names else f"scene {i}: no objects",
                     width="stretch")
            st.image(mask_image(scenes.masks[i]), caption="mask (colour = digit)", alt="mask (colour = digit)", width="stretch")
    color_key("Box, label and mask colour = the digit")
    first = pd.DataFrame(scenes.boxes[0].int().numpy(), columns=["x1", "y1", "x2", "y2"])
    first.insert(0, "digit", scenes.labels[0].numpy())
    st.caption("Scene 0's targets (x2, y2 exclusive: the box covers columns x1 .. x2-1):")
    st.dataframe(first, hide_index=True)


def heads_section(trained: VisionNet | None) -> None:
    """The same backbone with three heads: output shapes and what every number means."""
    st.markdown("One backbone (5 conv-BN-ReLU blocks, three 2 x 2 max pools: stride 8) and three heads. "
                "**Classification** answers *what*, **localization** *what and where* for one object, "
                "**detection** *how many, where and what* with one prediction per grid cell.")
    scene = cached_scenes(SceneConfig(split="val", count=4, seed=1)).images[:1]  # 1 x 1 x 64 x 64
    rows = []
    torch.manual_seed(0)
    nets = {head: VisionNet(head, BackboneConfig()).eval() for head in HEADS}
    with torch.no_grad():
        features = nets["detection"].backbone(scene)
        for head, net in nets.items():
            out = net(scene)
            rows.append({"head": head, "input": "1 x 1 x 64 x 64", "backbone output": " x ".join(map(str, features.shape)),
                         "head output": " x ".join(map(str, out.shape)),
                         "head parameters": sum(p.numel() for p in net.head.parameters()),
                         "backbone parameters": sum(p.numel() for p in net.backbone.parameters())})
    st.dataframe(pd.DataFrame(rows), hide_index=True)
    head = ui.radio("What the numbers mean", HEADS, horizontal=True, key="hd_head")
    st.dataframe(pd.DataFrame(output_meaning(head), columns=["output[...]", "meaning"]), hide_index=True)
    if head != "detection":
        return
    net = trained or nets["detection"]
    st.caption("The trained detector's numbers for one cell (train one in *Train the detector*)." if trained else
               "These are an untrained detector's numbers: train one in *Train the detector* to see real ones.")
    c1, c2 = ui.columns(2)
    i = c1.slider("Cell row i", 0, 7, 3, key="hd_i")
    j = c2.slider("Cell column j", 0, 7, 3, key="hd_j")
    with torch.no_grad():
        out = net.eval()(scene)[0, :, i, j]
    names = ["objectness", "tx", "ty", "tw", "th"] + [f"class {k}" for k in range(10)]
    left, right = ui.columns([1, 2])
    cell = torch.tensor([[j * 8.0, i * 8.0, j * 8.0 + 8, i * 8.0 + 8]])
    left.image(draw_boxes(scene[0, 0], cell, ["cell"]), caption=f"cell ({i}, {j}) = pixels "
               f"{j * 8}..{j * 8 + 7} x {i * 8}..{i * 8 + 7}", alt=(f"cell ({i}, {j}) = pixels "
               f"{j * 8}..{j * 8 + 7} x {i * 8}..{i * 8 + 7}"), width="stretch")
    right.dataframe(pd.DataFrame({"number": names, "raw value": out.numpy().round(3)}), hide_index=True, height=300)


@st.cache_resource(show_spinner="Loading the playground's trained LeNet-5 ...")
def lenet() -> object:
    """The Layer Visualization page's trained LeNet-5 (shared, read-only: the FCN copies it)."""
    from cnn_core.training.zoo import load_lenet5

    return load_lenet5()


def sliding_section() -> None:
    """LeNet-5 as a fully convolutional network: its score map vs the classifier at every window."""
    st.markdown("A classifier of 28 x 28 digits (LeNet-5 pads them to a 32 x 32 window) slid over a big scene "
                "runs once per window. Rewrite its fully-connected layers as convolutions (C5 already is a 5 x 5 "
                "conv; F6 and the output become **1 x 1 convolutions with the same weights**) and one pass over "
                "the whole scene gives the score of every window at once, stride 4.")
    c = ui.columns(3)
    size = c[0].select_slider("Scene size", [64, 96, 128, 192, 256], 128, key="sl_size")
    seed = c[1].number_input("Scene seed", 0, 10_000, 0, key="sl_seed")
    digit_px = c[2].slider("Digit size (px)", 20, 40, 28, key="sl_px")
    model = lenet()
    scene = cached_scenes(SceneConfig(split="test", count=1, seed=int(seed), canvas=size, max_digits=max(2, size // 24),
                                      min_scale=digit_px / size, max_scale=digit_px / size)).images
    mean, std = model.input.mean[0], model.input.std[0]
    x = pad_scene((scene - mean) / std, background=-mean / std)
    cost = compare_costs(model.model, x, repeats=1)
    st.dataframe(pd.DataFrame([
        {"way": "sliding window (batched)", "runs of the network": cost.positions,
         "multiply-adds (M)": round(cost.sliding_macs / 1e6, 1), "time (ms)": round(cost.sliding_seconds * 1e3, 1)},
        {"way": "fully convolutional", "runs of the network": 1, "multiply-adds (M)": round(cost.fcn_macs / 1e6, 1),
         "time (ms)": round(cost.fcn_seconds * 1e3, 1)}]), hide_index=True)
    st.caption(f"Same {cost.positions} scores both ways (largest difference {cost.max_difference:.1e}); the FCN "
               f"needs {cost.mac_ratio:.1%} of the multiply-adds: the convolutions C1-C3 are shared by overlapping "
               "windows, the per-window C5 / F6 / output work is not.")
    with torch.no_grad():
        probs = fcn_scores(fully_convolutional(model.model), x).softmax(0)  # 10 x rows x cols
    best, digit = probs.max(0)
    left, right = ui.columns(2)
    left.image(draw_boxes(scene[0, 0], torch.zeros(0, 4), scale=max(1, 384 // size)), caption="scene", alt="scene", width="stretch")
    heat = Image.fromarray((best.numpy() * 255).astype(np.uint8)).resize((384, 384), Image.NEAREST)
    right.image(heat, caption=f"score map {tuple(best.shape)}: the top class probability of every window (bright = "
                "sure)", alt=(f"score map {tuple(best.shape)}: the top class probability of every window (bright = "
                "sure)"), width="stretch")
    confident = (best > 0.99).nonzero().tolist()[:12]
    st.caption("Windows with a top probability > 0.99: " + (", ".join(f"({r}, {c}) -> {int(digit[r, c])}"
                                                                      for r, c in confident) or "none"))
    st.info("**Bright is not \"a digit is here\".** LeNet-5 has ten classes and no *background* class: its "
            "softmax shares 100 % among the ten digits in every window, empty background included (in this scene "
            f"the least sure window still gives its top digit {float(best.min()):.0%}, and half of the windows "
            f"score above {float(best.median()):.0%}). A bright cell means sure *which* digit, not sure *that* "
            "a digit is there. A detector needs a way to say *nothing here*: an objectness score (YOLO, and this "
            "page's detector) or an extra background class (Faster R-CNN).", icon="💡")
