'''The digit scenes of the Detection and Segmentation pages as plain code (mirrors cnn_core.vision.scenes).

An exported detector or segmenter regenerates the app's scenes exactly: the digits come from the same seeded
mnist-5k split (the training export's `load_data`), pass through the same normalize / denormalize round trip,
and every scene draws its digits, sizes and places from numpy's generator seeded with (seed, split, index).
'''
from __future__ import annotations

from cnn_core.vision.scenes import INK_THRESHOLD, MAX_TRIES, SceneConfig

SCENES = '''
from PIL import Image

INK_THRESHOLD = __INK__  # a pasted digit pixel (0..1) above this counts as ink: it is in the box and the mask
MAX_TRIES = __TRIES__  # random placements tried per digit before the scene gets one digit fewer
SPLITS = ("train", "val", "test")


@functools.lru_cache(maxsize=None)
def digit_pixels(split):
    """The mnist-5k digits of one split as float32 N x 28 x 28 pixels in [0, 1], and their labels."""
    data = load_data("mnist-5k")
    x, y = data[split]
    # back from the normalized images to pixels, as the app does (the same float operations, the same bits)
    pixels = (x * data["std"].view(-1, 1, 1) + data["mean"].view(-1, 1, 1)).clamp(0, 1)[:, 0]
    pixels = torch.where(pixels < 1e-3, torch.zeros_like(pixels), pixels)  # float noise of the round trip
    return pixels.numpy().astype(np.float32), y.tolist()


def ink_box(patch):
    """Tight (x1, y1, x2, y2) of a patch's ink, x2 / y2 exclusive (torchvision's xyxy); None without ink."""
    ink = patch > INK_THRESHOLD
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    if len(rows) == 0:
        return None
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def resized(digit, side):
    """A 28 x 28 digit resized to side x side pixels (PIL bilinear), in [0, 1]."""
    out = Image.fromarray(digit, mode="F").resize((side, side), Image.BILINEAR)
    return np.asarray(out, dtype=np.float32).clip(0, 1)


def box_iou(a, b):
    """Intersection over union of two integer xyxy boxes."""
    iw = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def intersects(a, b):
    """True when two boxes share at least one pixel."""
    return min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1])


def paste(canvas, patch, top, left):
    """Max-blend a patch into the canvas at (top, left), clipped at the borders; where it went, and its ink."""
    h, w = canvas.shape
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(top + patch.shape[0], h), min(left + patch.shape[1], w)
    part = patch[y0 - top:y1 - top, x0 - left:x1 - left]
    region = canvas[y0:y1, x0:x1]
    np.maximum(region, part, out=region)
    return slice(y0, y1), slice(x0, x1), part > INK_THRESHOLD


def add_clutter(image, boxes, pixels, rng):
    """Paste one fragment of a random digit (6-9 px) where it touches no box: ink that is not an object."""
    size = image.shape[0]
    digit = pixels[int(rng.integers(len(pixels)))]
    side = int(rng.integers(6, 10))
    y, x = int(rng.integers(6, 28 - side - 5)), int(rng.integers(6, 28 - side - 5))
    piece = digit[y:y + side, x:x + side]
    if not (piece > INK_THRESHOLD).any():
        return
    for _ in range(MAX_TRIES):
        top, left = int(rng.integers(0, size - side + 1)), int(rng.integers(0, size - side + 1))
        zone = (left - 1, top - 1, left + side + 1, top + side + 1)
        if not any(intersects(zone, b) for b in boxes):
            paste(image, piece, top, left)
            return


def one_scene(s, split, index, pixels, classes):
    """Scene `index`: a canvas with 1..max_digits digits, their boxes and labels, and the class mask."""
    rng = np.random.default_rng([s["seed"], SPLITS.index(split), index])  # scene i depends on nothing else
    size = s["canvas"]
    image = np.zeros((size, size), dtype=np.float32)
    mask = np.zeros((size, size), dtype=np.int64)  # 0 = background, 1 + digit class on the digit's ink
    boxes, labels = [], []
    lo, hi = round(s["min_scale"] * size), round(s["max_scale"] * size)
    for _ in range(int(rng.integers(s["min_digits"], s["max_digits"] + 1))):
        pick = int(rng.integers(len(classes)))
        patch = resized(pixels[pick], int(rng.integers(lo, hi + 1)))
        ink = ink_box(patch)
        if ink is None:
            continue
        bw, bh = ink[2] - ink[0], ink[3] - ink[1]
        if bw > size or bh > size:
            continue
        for _ in range(MAX_TRIES):  # a free place: boxes may overlap up to max_overlap (0: never touch)
            bx, by = int(rng.integers(0, size - bw + 1)), int(rng.integers(0, size - bh + 1))
            box = (bx, by, bx + bw, by + bh)
            if all(box_iou(box, other) <= s["max_overlap"] for other in boxes) and (
                    s["max_overlap"] > 0 or not any(intersects(box, other) for other in boxes)):
                rows, cols, on = paste(image, patch, by - ink[1], bx - ink[0])
                mask[rows, cols][on] = 1 + int(classes[pick])
                boxes.append(box)
                labels.append(int(classes[pick]))
                break
    for _ in range(s["clutter"]):
        add_clutter(image, boxes, pixels, rng)
    return image, torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4), torch.tensor(labels), mask


def make_scenes(s, split, count):
    """`count` scenes of a split: images N x 1 x H x W in [0, 1], boxes / labels per scene, masks N x H x W."""
    pixels, classes = digit_pixels(split)
    images = torch.zeros(count, 1, s["canvas"], s["canvas"])
    masks = torch.zeros(count, s["canvas"], s["canvas"], dtype=torch.long)
    boxes, labels = [], []
    for i in range(count):
        image, box, label, mask = one_scene(s, split, i, pixels, classes)
        images[i, 0], masks[i] = torch.from_numpy(image), torch.from_numpy(mask)
        boxes.append(box)
        labels.append(label)
    return {"images": images, "boxes": boxes, "labels": labels, "masks": masks}
'''


def scenes_code() -> str:
    """The scene generator's code, with the app's ink threshold and placement tries filled in."""
    return SCENES.replace("__INK__", repr(INK_THRESHOLD)).replace("__TRIES__", repr(MAX_TRIES))


def scene_settings(cfg: SceneConfig) -> dict[str, object]:
    """The settings of a SceneConfig the generated `make_scenes` reads (split and count are arguments)."""
    return {"seed": cfg.seed, "canvas": cfg.canvas, "min_digits": cfg.min_digits, "max_digits": cfg.max_digits,
            "min_scale": cfg.min_scale, "max_scale": cfg.max_scale, "max_overlap": cfg.max_overlap,
            "clutter": cfg.clutter}
