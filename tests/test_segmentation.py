"""cnn_core.vision.segmentation: U-Net shapes, IoU against torchmetrics, a loss that falls, checkpoints."""
from __future__ import annotations

import io
import json
import math
from dataclasses import replace

import pytest
import torch
from torchmetrics.classification import MulticlassJaccardIndex

from cnn_core.errors import CheckpointError, InvalidConfig
from cnn_core.vision import segmentation as seg

TINY = seg.SegConfig(base=4, depth=2, train_scenes=48, val_scenes=16, canvas=32, max_digits=2, epochs=3,
                     batch_size=16, lr=1e-2)


@pytest.mark.parametrize("skips", [True, False])
def test_unet_gives_a_score_per_pixel_for_any_multiple_of_its_stride(skips):
    model = seg.UNet(1, 11, base=8, depth=3, skips=skips)
    for side in (32, 64, 96):
        assert model(torch.zeros(2, 1, side, side)).shape == (2, 11, side, side)


def test_the_network_without_skips_is_the_same_network_minus_the_concatenated_channels():
    with_skips = sum(p.numel() for p in seg.UNet(1, 11, 8, 3, True).parameters())
    without = sum(p.numel() for p in seg.UNet(1, 11, 8, 3, False).parameters())
    # each decoder's first conv sees w more input channels with skips: 3 x 3 x w x w more weights per level
    assert with_skips - without == sum(9 * w * w for w in (8, 16, 32))


def test_iou_and_miou_equal_torchmetrics():
    gen = torch.Generator().manual_seed(0)
    target = torch.randint(0, 11, (4, 32, 32), generator=gen)
    pred = torch.where(torch.rand(4, 32, 32, generator=gen) < 0.7, target,
                       torch.randint(0, 11, (4, 32, 32), generator=gen))
    confusion = seg.confusion_matrix(pred, target, 11)
    reference = MulticlassJaccardIndex(num_classes=11, average="none")(pred, target)
    assert torch.allclose(seg.iou_per_class(confusion).float(), reference, atol=1e-6)
    assert seg.mean_iou(confusion) == pytest.approx(float(reference[1:].mean()), abs=1e-6)
    assert seg.mean_iou(confusion, skip_background=False) == pytest.approx(
        float(MulticlassJaccardIndex(num_classes=11, average="macro")(pred, target)), abs=1e-6)


def test_an_absent_class_is_left_out_of_the_mean():
    target = torch.zeros(1, 4, 4, dtype=torch.long)
    target[0, :2] = 3
    confusion = seg.confusion_matrix(target.clone(), target, 11)
    assert math.isnan(float(seg.iou_per_class(confusion)[5]))
    assert seg.mean_iou(confusion) == 1.0


def test_boundary_band_and_accuracy():
    mask = torch.zeros(1, 10, 10, dtype=torch.long)
    mask[0, 3:7, 3:7] = 1
    band = seg.boundary_band(mask, width=1)
    assert band[0, 5, 5].item() is False and band[0, 3, 3].item() is True and band[0, 0, 0].item() is False
    blurred = torch.zeros_like(mask)  # predicts background everywhere
    assert seg.boundary_accuracy(mask, mask) == 1.0
    assert 0 < seg.boundary_accuracy(blurred, mask) < 1


def test_dice_loss_is_zero_for_a_perfect_confident_prediction_and_differentiable():
    target = torch.randint(0, 3, (2, 8, 8), generator=torch.Generator().manual_seed(1))
    perfect = torch.nn.functional.one_hot(target, 3).permute(0, 3, 1, 2).float() * 50
    assert seg.dice_loss(perfect, target).item() == pytest.approx(0.0, abs=1e-4)
    logits = torch.zeros(2, 3, 8, 8, requires_grad=True)
    seg.segmentation_loss("cross-entropy + dice", logits, target).backward()
    assert logits.grad.abs().sum() > 0


def test_a_short_run_learns_and_repeats_with_its_seed():
    runs = [seg.SegmentationRun(TINY) for _ in range(2)]
    histories = [[r for r in run.records()] for run in runs]
    epochs = [r for r in histories[0] if r.kind == "epoch"]
    assert len(epochs) == 3 and len([r for r in histories[0] if r.kind == "step"]) == 3 * 3
    steps = [r.train_loss for r in histories[0] if r.kind == "step"]
    assert steps[-1] < steps[0]
    assert [r.train_loss for r in histories[0]] == [r.train_loss for r in histories[1]]
    # the scored (averaged) network repeats too
    assert [(r.val_loss, r.miou) for r in epochs] == [(r.val_loss, r.miou) for r in histories[1] if r.kind == "epoch"]
    assert len(epochs[-1].class_iou) == 11 and 0 <= epochs[-1].pixel_acc <= 1


def test_checkpoints_round_trip_and_another_models_is_refused():
    run = seg.SegmentationRun(TINY)
    model, config = seg.load_segmenter(run.checkpoint())
    assert config == TINY
    x = run.val.images[:2]
    run.model.eval()
    assert torch.equal(model(x), run.model(x))
    other = seg.segmenter_checkpoint_bytes(seg.UNet(1, 11, 4, 2, skips=False, norm=TINY.norm), TINY)
    with pytest.raises(CheckpointError, match="different shapes: dec"):
        seg.load_segmenter(other)
    with pytest.raises(CheckpointError, match="not a readable"):
        seg.load_segmenter(b"not a checkpoint")


def test_bad_settings_are_refused_with_the_reason():
    with pytest.raises(InvalidConfig, match="multiple of 2\\*\\*depth = 8"):
        seg.SegConfig(canvas=36, depth=3).validate()
    with pytest.raises(InvalidConfig, match="loss must be one of"):
        seg.SegConfig(loss="focal").validate()


def test_group_norm_is_torchs_and_scores_a_scene_the_same_in_training_and_evaluation():
    torch.manual_seed(0)
    net = seg.UNet(1, 3, base=8, depth=2, norm="group")
    norms = [m for m in net.modules() if isinstance(m, torch.nn.GroupNorm)]
    assert norms and not any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())
    assert all(m.num_groups == m.num_channels // 4 for m in norms)  # 4 channels a group
    x = torch.rand(4, 1, 16, 16)
    with torch.no_grad():
        trained = net.train()(x)
        # no running statistics: evaluation sees what training saw, and one scene alone scores the same
        assert torch.allclose(net.eval()(x), trained, atol=1e-5)
        assert torch.allclose(net(x[:1]), trained[:1], atol=1e-5)
        batch = seg.UNet(1, 3, base=8, depth=2, norm="batch")
        assert not torch.allclose(batch.train()(x), batch.eval()(x), atol=1e-3)
    with pytest.raises(InvalidConfig, match="normalization must be one of"):
        seg.SegConfig(norm="layer").validate()


def test_odd_sized_inputs_are_padded_and_it_says_so():
    padded, note = seg.fit_to_network(torch.zeros(1, 1, 50, 61), depth=3)
    assert padded.shape[-2:] == (56, 64) and "50 x 61 to 56 x 64" in note
    same, none = seg.fit_to_network(torch.zeros(1, 1, 64, 64), depth=3)
    assert same.shape[-1] == 64 and none == ""


def test_class_gradcam_and_pixel_receptive_field():
    run = seg.SegmentationRun(TINY)
    for _ in run.records(1):
        pass
    image = run.val.images[:1]
    with torch.no_grad():
        predicted = run.model.eval()(image).argmax(1)
    run.model.train()
    present = int(predicted.flatten().mode().values)
    cam, pixels = seg.class_gradcam(run.model, image, present)
    assert pixels == int((predicted == present).sum()) and cam.shape == (32, 32) and float(cam.max()) <= 1.0
    missing, none = seg.class_gradcam(run.model, image, 10 if present != 10 else 9)
    if none == 0:
        assert float(missing.abs().sum()) == 0.0
    assert all(m.training for m in run.model.modules())  # every submodule's train flag restored
    erf = seg.pixel_receptive_field(run.model, image, 16, 16)
    rows, cols = torch.nonzero(erf > 0, as_tuple=True)
    half = seg.theoretical_receptive_field(TINY.depth) // 2
    assert erf[16, 16] > 0 or len(rows) > 0
    assert int((rows - 16).abs().max()) <= half + 1 and int((cols - 16).abs().max()) <= half + 1


def test_a_run_longer_than_the_servers_budget_is_refused_before_any_work(monkeypatch):
    from cnn_core.errors import BudgetExceeded
    monkeypatch.setenv("CNN_PLAYGROUND_MAX_RUN_SECONDS", "60")
    with pytest.raises(BudgetExceeded, match="Lower the epochs or the training scenes"):
        seg.SegmentationRun(seg.SegConfig(train_scenes=4000, epochs=30))
    assert seg.SegConfig(train_scenes=500, epochs=3).estimated_seconds() < 60


def test_learning_rate_schedules_and_the_run_follows_them():
    lr_factor, SegConfig, SegmentationRun = seg.lr_factor, seg.SegConfig, seg.SegmentationRun
    total = 100
    decay = [lr_factor(s, total, "decay") for s in range(total + 10)]
    assert decay[:75] == [1.0] * 75 and decay[87] == pytest.approx(1 - 12 / 25) and decay[-1] == 0.02
    assert all(a >= b for a, b in zip(decay, decay[1:]))  # never rises
    cosine = [lr_factor(s, total, "cosine") for s in range(total)]
    assert cosine[0] == pytest.approx(0.2) and cosine[4] == 1.0 and cosine[-1] == pytest.approx(0.02, abs=1e-3)
    assert {lr_factor(s, total, "constant") for s in range(total)} == {1.0}
    config = SegConfig(train_scenes=32, val_scenes=8, epochs=2, batch_size=8, lr=0.01, base=4, depth=2)
    run = SegmentationRun(config)
    seen = []
    for record in run.records():
        if record.kind == "step":
            seen.append(run.optimizer.param_groups[0]["lr"])
    assert len(seen) == 8  # 2 epochs x 4 batches; lr after each step = 0.01 x factor(step)
    assert seen == pytest.approx([0.01 * lr_factor(s + 1, 8, config.schedule) for s in range(8)])
    with pytest.raises(InvalidConfig, match="schedule"):
        SegConfig(schedule="sometimes").validate()


def test_the_scored_network_is_the_moving_average_of_the_trained_one():
    config = seg.SegConfig(base=4, depth=2, train_scenes=32, val_scenes=8, canvas=32, max_digits=2, epochs=1,
                           batch_size=8, ema=0.2)
    run = seg.SegmentationRun(config)
    average, decays = None, []
    for record in run.records():
        if record.kind == "step":  # yielded after the step: average the trained network's new weights by hand
            now = {k: v.detach().clone().double() for k, v in run.net.state_dict().items()}
            if average is None:
                average = now  # the first update copies
            else:
                n = record.step - 1  # updates before this one
                decays.append(min(0.2, (1 + n) / (10 + n)))
                average = {k: decays[-1] * average[k] + (1 - decays[-1]) * now[k] for k in now}
    assert decays == pytest.approx([2 / 11, 0.2, 0.2])  # the warm-up, then the cap
    scored = run.model.state_dict()
    for name, value in average.items():
        if value.is_floating_point() and "num_batches_tracked" not in name:
            assert torch.allclose(scored[name].double(), value, atol=1e-5), name
    assert run.model is not run.net
    assert not torch.equal(scored["head.weight"], run.net.state_dict()["head.weight"])
    # what the run scores and saves is the averaged network
    model, _ = seg.load_segmenter(run.checkpoint())
    assert torch.equal(model.state_dict()["head.weight"], scored["head.weight"])
    plain = seg.SegmentationRun(replace(config, ema=0.0))
    assert plain.model is plain.net
    with pytest.raises(InvalidConfig, match="ema"):
        replace(config, ema=1.0).validate()
    assert seg.ema_decay(0.99, 10) == pytest.approx(11 / 20) and seg.ema_decay(0.99, 5000) == 0.99


def test_the_default_segmenter_fits_a_minute_and_old_checkpoints_without_ema_load():
    assert seg.SegConfig().estimated_seconds() <= 60
    run = seg.SegmentationRun(TINY)
    data = run.checkpoint()
    payload = torch.load(io.BytesIO(data), weights_only=True)
    meta = json.loads(payload["meta"])
    del meta["config"]["ema"]  # a checkpoint saved before the field existed
    payload["meta"] = json.dumps(meta)
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    model, config = seg.load_segmenter(buffer.getvalue())
    assert config.ema == seg.SegConfig.ema and torch.equal(model.state_dict()["head.weight"],
                                                           run.model.state_dict()["head.weight"])
