"""A run that does not learn is flagged 'not learning' in comparison summaries (not 'finished' / 'ok')."""
from __future__ import annotations

import pytest

from cnn_core import OptimizerConfig, Record, TrainConfig, load_dataset
from cnn_core.experiments.compare import NOT_LEARNING, compare, learning_problem, optimizer_configs, summary_table


@pytest.fixture(scope="module")
def histories():
    data = load_dataset("mnist-5k", per_class=40)  # 280 training digits, 10 classes
    base = TrainConfig(model="lenet5-modern", epochs=2, batch_size=32, seed=0)  # the Optimizers page's model
    configs = optimizer_configs(base, [OptimizerConfig("sgd", lr=5.0), OptimizerConfig("adam")])
    out: dict[str, list] = {label: [] for label in configs}
    for label, record in compare(configs, data):
        out[label].append(record)
    return out


def test_sgd_at_lr_5_is_flagged_and_adam_is_not(histories):
    table = summary_table(histories, planned={k: 2 for k in histories}).set_index("run")
    sgd, adam = [label for label in histories]
    assert table.loc[sgd, "status"] == NOT_LEARNING and "chance" in table.loc[sgd, "note"]
    # the independent check: its validation accuracy is within 5 points of 1/10
    assert abs(table.loc[sgd, "final_val_acc"] - 0.1) <= 0.05
    assert table.loc[adam, "status"] == "finished" and table.loc[adam, "note"] == ""
    assert table.loc[adam, "final_val_acc"] > 0.5


def test_a_loss_that_does_not_fall_is_flagged():
    steps = [Record("step", 1, i + 1, train_loss=2.0 + 0.01 * i, train_acc=0.3) for i in range(4)]
    epoch = Record("epoch", 1, 4, train_loss=2.05, train_acc=0.3, val_loss=2.0, val_acc=0.4)
    assert "not below its start" in learning_problem(steps + [epoch])
    falling = [Record("step", 1, 1, train_loss=2.3), Record("epoch", 1, 1, train_loss=1.0, val_acc=0.4)]
    assert learning_problem(falling) is None
    assert learning_problem(steps) is None  # no epoch finished yet: too early to say
    diverged = [*steps, epoch, Record("diverged", 2, 5)]
    assert learning_problem(diverged) is None  # already flagged as diverged
    assert learning_problem([steps[0], Record("epoch", 1, 1, train_loss=1.0, val_acc=0.52)], num_classes=2)
