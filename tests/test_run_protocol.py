"""One run protocol: classifier, detector and segmenter runs share Record, RunStatus, the divergence rule,
checkpoint() and the loop that compare.interleave and the executors drive; a comparison is priced once."""
from __future__ import annotations

import math
import re
from dataclasses import astuple, replace
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import cnn_core.training.budget as budget
from cnn_core.device import seed_everything
from cnn_core.errors import BudgetExceeded, InvalidConfig
from cnn_core.experiments.compare import interleave, make_runs, price, run_steps
from cnn_core.experiments.executors import ExecutorChoice, InProcessExecutor, stream
from cnn_core.training import Record, RunStatus, TrainConfig, TrainingRun
from cnn_core.training.budget import PricedRuns, check_runs
from cnn_core.training.checkpoints import load_checkpoint
from cnn_core.training.runs import DivergenceCheck, Run
from cnn_core.vision import segmentation as seg
from cnn_core.vision.detect_train import DetectConfig, DetectionRun, load_detector

SEG = seg.SegConfig(base=4, depth=2, train_scenes=16, val_scenes=2, canvas=32, epochs=2, batch_size=8, seed=1)
PLAIN_SEG = replace(SEG, ema=0.0)
DET = DetectConfig(train_scenes=16, val_scenes=2, epochs=1, batch_size=16, width=4, seed=3)
CLASSIFIER = TrainConfig(per_class=10, epochs=1, batch_size=50, seed=2)


def plain(record: Record) -> tuple:
    """A record without its wall-clock times, NaN (also inside tuples) as None: comparable with ==."""
    def clean(value):
        if isinstance(value, float) and math.isnan(value):
            return None
        return tuple(clean(v) for v in value) if isinstance(value, tuple) else value
    return clean(astuple(replace(record, seconds=0.0, epoch_seconds=0.0)))


@pytest.mark.parametrize("make", [lambda: TrainingRun(CLASSIFIER), lambda: DetectionRun(DET),
                                  lambda: seg.SegmentationRun(replace(SEG, epochs=1))],
                         ids=["classifier", "detector", "segmenter"])
def test_every_run_kind_is_a_run_with_records_statuses_and_a_checkpoint(make):
    run = make()
    assert isinstance(run, Run) and run.status is RunStatus.READY
    records = list(run.records())
    assert run.status is RunStatus.FINISHED and run.epoch == 1 and run.step == len(run.history) - 1
    assert all(isinstance(r, Record) for r in records) and records == run.history
    assert [r.kind for r in records][-1] == "epoch" and all(math.isfinite(r.train_loss) for r in records)
    assert isinstance(run.checkpoint(), bytes)


def test_checkpoint_methods_round_trip_each_kinds_weights():
    classifier = TrainingRun(CLASSIFIER)
    list(classifier.records())
    restored = load_checkpoint(classifier.checkpoint())
    x = classifier.data.val_x[:3]
    classifier.model.eval()
    assert torch.allclose(restored.model(x), classifier.model(x))
    detector = DetectionRun(DET)
    model, config, metrics = load_detector(detector.checkpoint())
    assert config == DET and set(model.state_dict()) == set(detector.model.state_dict())
    segmenter = seg.SegmentationRun(SEG)
    model, config = seg.load_segmenter(segmenter.checkpoint())
    assert config == SEG


def test_the_divergence_rule_against_its_definition():
    check = DivergenceCheck(factor=10.0, limit=1e4)
    assert not check(2.0) and check.first == 2.0
    assert not check(19.9) and check(20.1)           # 10 x the first loss
    assert check(float("nan")) and check(float("inf"))
    huge = DivergenceCheck(factor=1e9, limit=50.0)
    assert not huge(40.0) and huge(50.5)             # the absolute limit
    assert DivergenceCheck().message(4).startswith("Diverged at step 5")


@pytest.mark.parametrize("kind", ["classifier", "segmenter", "detector"])
def test_an_exploded_network_diverges_the_same_way_in_every_kind(kind):
    run = {"classifier": lambda: TrainingRun(CLASSIFIER), "segmenter": lambda: seg.SegmentationRun(SEG),
           "detector": lambda: DetectionRun(DET)}[kind]()
    trained = getattr(run, "net", run.model)  # the network the optimizer trains (a segmenter scores its average)
    with torch.no_grad():
        for p in trained.parameters():
            p.fill_(float("inf"))  # the first loss is not finite
    records = list(run.records())
    assert records[-1].kind == "diverged" and run.status is RunStatus.DIVERGED
    assert records[-1].message == DivergenceCheck().message(0)
    assert list(run.records()) == []  # a diverged run does not train on


def test_segmenter_records_match_a_plain_torch_loop_with_the_same_seed():
    # the trained network scored as it is (ema 0): the weight average is checked step by step in test_segmentation
    run = seg.SegmentationRun(PLAIN_SEG)
    records = list(run.records())
    # the reference: torch.optim.Adam and LambdaLR over the same seeded order, batches and loss
    seed_everything(PLAIN_SEG.seed)
    model = PLAIN_SEG.build().to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=PLAIN_SEG.lr, foreach=True)
    total = PLAIN_SEG.epochs * math.ceil(PLAIN_SEG.train_scenes / PLAIN_SEG.batch_size)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: seg.lr_factor(s, total, PLAIN_SEG.schedule))
    train = seg.cached_scenes(PLAIN_SEG.scenes("train"))
    targets = seg.target_masks(train, PLAIN_SEG.mode)
    order_rng = torch.Generator().manual_seed(PLAIN_SEG.seed)
    losses, mious = [], []
    for _ in range(PLAIN_SEG.epochs):
        model.train()
        order = torch.randperm(len(train), generator=order_rng)
        for first in range(0, len(order), PLAIN_SEG.batch_size):
            idx = order[first:first + PLAIN_SEG.batch_size]
            logits = model(train.images[idx])
            weight = torch.ones(logits.shape[1])
            weight[0] = PLAIN_SEG.background_weight
            loss = F.cross_entropy(logits, targets[idx], weight=weight) + seg.dice_loss(logits, targets[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            losses.append(loss.item())
        mious.append(seg.evaluate_segmenter(model, run.val, PLAIN_SEG.mode, PLAIN_SEG.loss)["miou"])
    assert [r.train_loss for r in records if r.kind == "step"] == losses
    assert [r.miou for r in records if r.kind == "epoch"] == pytest.approx(mious, nan_ok=True)


def test_the_unet_pair_through_compare_and_an_executor_matches_each_run_alone():
    configs = {"skips on": SEG, "skips off": replace(SEG, skips=False)}
    alone = {label: [plain(r) for r in seg.SegmentationRun(cfg).records()] for label, cfg in configs.items()}
    turns: dict[str, list] = {}
    for label, record in interleave(make_runs(configs), steps_per_turn=1):
        turns.setdefault(label, []).append(plain(record))
    assert turns == alone
    submissions: list = []
    streamed: dict[str, list] = {}
    for label, record in stream(ExecutorChoice(InProcessExecutor()), price(configs), None, submissions):
        streamed.setdefault(label, []).append(plain(record))
    assert streamed == alone
    outcomes = submissions[0].outcomes
    assert {label: o.status for label, o in outcomes.items()} == dict.fromkeys(configs, RunStatus.FINISHED)
    reference = seg.SegmentationRun(SEG)
    list(reference.records())
    model = seg.trained_segmenter(SEG, outcomes["skips on"].state, streamed["skips on"]).model
    assert all(torch.equal(model.state_dict()[k], v) for k, v in reference.model.state_dict().items())
    assert run_steps(SEG) == len([r for r in reference.history if r.kind == "step"])


def test_a_comparison_mixes_no_run_kinds():
    with pytest.raises(InvalidConfig, match="one kind"):
        price({"a": SEG, "b": DET})
    with pytest.raises(InvalidConfig, match="same dataset"):
        price({"a": SEG, "b": replace(SEG, train_scenes=64)})


def test_a_comparison_is_priced_once_and_an_oversized_one_is_refused_with_the_same_message(monkeypatch):
    configs = {"a": CLASSIFIER, "b": replace(CLASSIFIER, seed=3)}
    calls = []
    estimate = budget.estimate_run
    monkeypatch.setattr(budget, "estimate_run", lambda *a, **k: calls.append(a[0]) or estimate(*a, **k))
    priced = price(configs)
    assert isinstance(priced, PricedRuns) and len(calls) == 2 and dict(priced) == configs
    runs = make_runs(priced)
    assert len(calls) == 2 and all(run.estimate is priced.estimate for run in runs.values())  # not priced again
    calls.clear()
    make_runs(configs)  # unpriced: priced here, once per run (the runs are not priced again alone)
    assert len(calls) == 2
    calls.clear()
    TrainingRun(CLASSIFIER)  # a run nobody priced prices itself
    assert len(calls) == 1
    monkeypatch.setenv("CNN_PLAYGROUND_MAX_RUN_MEMORY_MB", "1")
    with pytest.raises(BudgetExceeded) as direct:
        check_runs(configs)
    with pytest.raises(BudgetExceeded) as through_compare:
        price(configs)
    assert str(through_compare.value) == str(direct.value)


def test_a_segmenter_comparison_is_priced_per_run_by_its_own_budget(monkeypatch):
    monkeypatch.setenv("CNN_PLAYGROUND_MAX_RUN_SECONDS", "60")
    big = replace(seg.SegConfig(), train_scenes=4000, epochs=30)
    with pytest.raises(BudgetExceeded, match="Lower the epochs or the training scenes"):
        price({"on": big, "off": replace(big, skips=False)})
    priced = price({"on": SEG, "off": replace(SEG, skips=False)})
    assert priced.estimate.seconds == pytest.approx(2 * SEG.estimated_seconds())


def test_pages_compare_statuses_with_runstatus_not_bare_strings():
    bare = re.compile(r"""status\s*(==|!=|=)\s*["'](ready|running|finished|stopped|diverged|early_stopped|"""
                      r"""not_learning|failed|done)["']""")
    offenders = [f"{path}:{n}" for path in Path("pages").rglob("*.py")
                 for n, line in enumerate(path.read_text().splitlines(), 1) if bare.search(line)]
    assert not offenders, offenders
