"""The detector's training loop, loss parts, checkpoints and the three heads' output shapes."""
import math

import pytest
import torch

from cnn_core.errors import CheckpointError, InvalidConfig
from cnn_core.models import ModelOptions, build_model
from cnn_core.training.checkpoints import checkpoint_bytes
from cnn_core.vision.boxes import encode_targets
from cnn_core.vision.detect_train import DetectConfig, DetectionRun, detection_loss, load_detector
from cnn_core.vision.heads import HEADS, BackboneConfig, VisionNet, output_meaning

TINY = DetectConfig(train_scenes=64, val_scenes=8, epochs=2, batch_size=16, width=4, seed=3)


def test_three_heads_output_shapes():
    x = torch.zeros(2, 1, 64, 64)
    shapes = {head: tuple(VisionNet(head, BackboneConfig(width=8))(x).shape) for head in HEADS}
    assert shapes == {"classification": (2, 10), "localization": (2, 14), "detection": (2, 15, 8, 8)}
    loc = VisionNet("localization")(x)
    assert ((loc[:, 10:] >= 0) & (loc[:, 10:] <= 1)).all()  # box numbers are fractions of the image
    assert len(output_meaning("detection")) == 4 and len(output_meaning("localization")) == 5


def test_loss_parts_against_hand_computation():
    torch.manual_seed(0)
    out = torch.randn(1, 15, 8, 8)
    targets = encode_targets([torch.tensor([[8.0, 8, 24, 24]])], [torch.tensor([4])], 8, 8, 16.0)
    parts = detection_loss(out, targets, box_weight=2.0, class_weight=1.0)
    obj = torch.nn.functional.binary_cross_entropy_with_logits(out[:, 0], targets[0], reduction="sum")
    cls = torch.nn.functional.cross_entropy(out[0, 5:, 2, 2][None], torch.tensor([4]))
    assert parts["objectness"].item() == pytest.approx(obj.item(), rel=1e-5)
    assert parts["classes"].item() == pytest.approx(cls.item(), rel=1e-5)
    assert parts["loss"].item() == pytest.approx((parts["objectness"] + 2 * parts["box"] + parts["classes"]).item())


def test_run_yields_records_and_is_seeded():
    records = list(DetectionRun(TINY).records())
    steps = [r for r in records if r.kind == "step"]
    epochs = [r for r in records if r.kind == "epoch"]
    assert len(steps) == 2 * 4 and [r.epoch for r in epochs] == [1, 2]
    assert all(math.isfinite(r.train_loss) and r.objectness > 0 for r in steps)
    assert 0 <= epochs[-1].val_map50 <= 1
    again = [r.train_loss for r in DetectionRun(TINY).records() if r.kind == "step"]
    assert again == [r.train_loss for r in steps]


def test_continue_and_diverge():
    run = DetectionRun(TINY)
    list(run.records(1))
    list(run.records(1))
    assert run.epoch == 2 and run.step == 8
    bad = DetectionRun(DetectConfig(train_scenes=64, val_scenes=8, epochs=1, batch_size=16, width=4, lr=1.0))
    with torch.no_grad():
        bad.model.head.conv[-1].weight.fill_(float("inf"))  # an exploded layer: the first loss is not finite
    records = list(bad.records())
    assert records[-1].kind == "diverged" and "learning rate" in records[-1].message


def test_checkpoint_round_trip_and_refusals():
    run = DetectionRun(TINY)
    list(run.records(1))
    model, config, metrics = load_detector(run.checkpoint())
    assert config == TINY and metrics["epoch"] == 1
    x = run.val.images[:2]
    run.model.eval()
    assert torch.allclose(model(x), run.model(x))
    lenet = build_model("lenet5-modern", ModelOptions())
    with pytest.raises(CheckpointError, match="not a digit detector"):
        load_detector(checkpoint_bytes(lenet, "lenet5-modern", ModelOptions()))
    with pytest.raises(CheckpointError, match="not a readable"):
        load_detector(b"garbage")


def test_bad_settings_are_refused():
    with pytest.raises(InvalidConfig, match="canvas"):
        DetectionRun(DetectConfig(canvas=60))
    with pytest.raises(InvalidConfig, match="learning rate"):
        DetectConfig(lr=0.0).validate()
    with pytest.raises(InvalidConfig, match="warm-up"):
        DetectConfig(epochs=2, warmup_epochs=3).validate()
    with pytest.raises(InvalidConfig, match="warm-up"):
        DetectConfig(warmup_epochs=float("nan")).validate()


def test_warm_up_length_follows_the_config():
    run = DetectionRun(DetectConfig(train_scenes=64, val_scenes=4, epochs=2, batch_size=16, warmup_epochs=0.5,
                                    lr=0.01))
    lrs = [run.optimizer.param_groups[0]["lr"]]  # before step 1: factor(0) = 1/2 (2 warm-up steps of 4 per epoch)
    for record in run.records():
        if record.kind == "step":
            lrs.append(run.optimizer.param_groups[0]["lr"])
    assert lrs[0] == pytest.approx(0.005) and lrs[1] == pytest.approx(0.01)  # warm-up over 0.5 epoch = 2 steps
    assert lrs[-1] == pytest.approx(0.01 * 0.02)  # cosine down to 2 % at the last planned step
