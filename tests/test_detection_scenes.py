"""The digit-scene generator: exact tight boxes, masks that agree with them, seeds, splits, overlap, clutter."""
import pytest
import torch
from torchvision.ops import box_area, box_iou, masks_to_boxes

from cnn_core.errors import InvalidConfig
from cnn_core.vision import INK_THRESHOLD, make_scenes
from cnn_core.vision.scenes import _digits


@pytest.fixture(scope="module")
def scenes():
    return make_scenes("train", 60, seed=3)


def test_shapes_and_ranges(scenes):
    assert scenes.images.shape == (60, 1, 64, 64) and scenes.images.dtype == torch.float32
    assert scenes.masks.shape == (60, 64, 64) and scenes.masks.dtype == torch.long
    assert 0 <= scenes.images.min() and scenes.images.max() <= 1
    counts = scenes.object_counts()
    assert min(counts) >= 1 and max(counts) <= 5 and len(set(counts)) > 2
    for b, lab in zip(scenes.boxes, scenes.labels):
        assert b.shape == (len(lab), 4) and lab.dtype == torch.long
        assert (box_area(b) > 0).all() and (b[:, :2] >= 0).all() and (b[:, 2:] <= 64).all()


def test_boxes_are_the_tight_box_of_the_ink_and_masks_agree(scenes):
    for i in range(len(scenes)):
        ink = scenes.images[i, 0] > INK_THRESHOLD
        # without clutter every ink pixel belongs to one digit, and the mask marks exactly the ink
        assert torch.equal(scenes.masks[i] > 0, ink)
        for box, label in zip(scenes.boxes[i], scenes.labels[i]):
            x1, y1, x2, y2 = box.int().tolist()
            inside = torch.zeros_like(ink)
            inside[y1:y2, x1:x2] = True
            own = (scenes.masks[i] == 1 + label) & inside
            # torchvision's masks_to_boxes gives inclusive x2/y2: ours are exclusive
            ref = masks_to_boxes(own[None].float())[0] + torch.tensor([0, 0, 1, 1])
            assert torch.equal(ref, box), (i, box, ref)
            # only this digit's class in its box (boxes do not overlap by default)
            assert set(scenes.masks[i][inside].unique().tolist()) <= {0, 1 + int(label)}
            assert ink[y1:y2, x1:x2].sum() == own.sum()
        # no ink outside the boxes
        covered = torch.zeros_like(ink)
        for x1, y1, x2, y2 in scenes.boxes[i].int().tolist():
            covered[y1:y2, x1:x2] = True
        assert not (ink & ~covered).any()


def test_same_seed_same_scenes_and_prefix_stable():
    a, b = make_scenes("val", 12, seed=7), make_scenes("val", 20, seed=7)
    assert torch.equal(a.images, b.images[:12]) and torch.equal(a.masks, b.masks[:12])
    assert all(torch.equal(x, y) for x, y in zip(a.boxes, b.boxes))
    assert all(torch.equal(x, y) for x, y in zip(a.labels, b.labels))
    c = make_scenes("val", 12, seed=8)
    assert not torch.equal(a.images, c.images)
    assert not torch.equal(a.images, make_scenes("test", 12, seed=7).images)


@pytest.mark.parametrize("split", ["val", "test"])
def test_digits_come_from_their_own_split(split):
    # canvas 56 at scale 0.5 draws every digit at 28 px: the resize is the identity, so each pasted
    # digit's crop must equal a digit of the requested split exactly, and none of the training split
    scenes = make_scenes(split, 10, seed=1, canvas=56, max_digits=2, min_scale=0.5, max_scale=0.5)
    own, _ = _digits("mnist-5k", split)
    train, _ = _digits("mnist-5k", "train")

    def found(crop: torch.Tensor, pool: torch.Tensor) -> bool:
        h, w = crop.shape
        for digit in pool:
            mask = digit > INK_THRESHOLD
            rows, cols = torch.nonzero(mask.any(1)).flatten(), torch.nonzero(mask.any(0)).flatten()
            if rows[-1] - rows[0] + 1 == h and cols[-1] - cols[0] + 1 == w:
                part = digit[rows[0]:rows[0] + h, cols[0]:cols[0] + w]
                part = torch.where(part > INK_THRESHOLD, part, 0.0)
                if torch.allclose(part, crop, atol=1e-5):
                    return True
        return False

    for i in range(len(scenes)):
        for x1, y1, x2, y2 in scenes.boxes[i].int().tolist():
            crop = torch.where(scenes.masks[i, y1:y2, x1:x2] > 0, scenes.images[i, 0, y1:y2, x1:x2], 0.0)
            assert found(crop, own)
            assert not found(crop, train)


def test_overlap_control():
    none = make_scenes("train", 40, seed=2, max_digits=5)
    for b in none.boxes:
        iou = box_iou(b, b) - torch.eye(len(b))
        assert (iou == 0).all()
    some = make_scenes("train", 40, seed=2, max_digits=5, max_overlap=0.3)
    ious = [float((box_iou(b, b) - torch.eye(len(b))).max()) for b in some.boxes if len(b) > 1]
    assert max(ious) <= 0.3 + 1e-6 and max(ious) > 0  # overlaps happen, never above the limit


def test_clutter_is_ink_without_box_or_mask():
    plain = make_scenes("train", 20, seed=5)
    cluttered = make_scenes("train", 20, seed=5, clutter=6)
    for i in range(20):
        assert torch.equal(plain.boxes[i], cluttered.boxes[i])
        assert torch.equal(plain.masks[i], cluttered.masks[i])  # fragments stay background
    extra = (cluttered.images[:, 0] > INK_THRESHOLD) & (cluttered.masks == 0)
    assert extra.sum() > 20 * 10
    assert not ((plain.images[:, 0] > INK_THRESHOLD) & (plain.masks == 0)).any()


def test_empty_scenes_and_targets():
    empty = make_scenes("test", 3, seed=0, min_digits=0, max_digits=0)
    assert all(b.shape == (0, 4) for b in empty.boxes) and (empty.masks == 0).all() and empty.images.max() == 0
    t = make_scenes("test", 2, seed=0).targets()
    assert set(t[0]) == {"boxes", "labels"}


@pytest.mark.parametrize("options, words", [
    ({"split": "holdout"}, "split"), ({"canvas": 8}, "canvas"), ({"max_digits": -1}, "min_digits"),
    ({"min_scale": 0.05}, "too small"), ({"max_overlap": 2.0}, "max_overlap"), ({"clutter": 99}, "clutter"),
])
def test_bad_settings_raise_readable_errors(options, words):
    args = {"split": "train", "count": 2, "seed": 0} | options
    with pytest.raises(InvalidConfig, match=words):
        make_scenes(**args)
