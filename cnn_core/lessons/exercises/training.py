"""Exercises on tuning, training, TensorBoard and saving / restoring weights."""
from __future__ import annotations

from functools import lru_cache

import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader

from cnn_core.experiments.sanity import overfit_batch_check
from cnn_core.experiments.tuning import exponential_ramp, grid_configs
from cnn_core.lessons import labels
from cnn_core.lessons.core import Exercise, Params, Target, Verdict
from cnn_core.lessons.exercises.layers import mnist_small
from cnn_core.lessons.measure import meta_model
from cnn_core.models.registry import ModelOptions, build_model
from cnn_core.training import TrainConfig
from cnn_core.training.optimizers import OPTIMIZERS, OptimizerConfig, ScheduleConfig, lr_factor

TUNE_PAGE, TRAIN_PAGE = "9_Hyperparameter_Tuning.py", "8_Train.py"

# ------------------------------------------------------------------------------------ hyper-parameter tuning


def _steps(p: Params, drop_last: bool = False) -> int:
    return len(DataLoader(range(10 * p["per_class"]), batch_size=p["batch"], drop_last=drop_last))


def _grid(p: Params) -> int:
    lrs, sizes, decays = p["lrs"], p["sizes"], p["decays"]
    return len(grid_configs(TrainConfig(), lrs, sizes, decays))


def _ramp_lr(p: Params, steps: int | None = None) -> float:
    steps = steps or p["steps"]
    w = nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([w], lr=p["lo"])
    ramp = exponential_ramp(optimizer, p["hi"] / p["lo"], steps)
    for _ in range(p["at"]):
        optimizer.step()
        ramp.step()
    return float(optimizer.param_groups[0]["lr"])


def _draw_grid(r) -> dict:
    while True:  # a grid whose typical miscounts all give different numbers
        lrs = tuple(sorted(r.sample([1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1], r.choice([2, 3, 4]))))
        sizes = tuple(sorted(r.sample([16, 32, 64, 128, 256], r.choice([1, 2, 3]))))
        decays = tuple(sorted(r.sample([0.0, 1e-4, 1e-3], 2)))
        if len(lrs) * len(sizes) * len(decays) != len(lrs) + len(sizes) + len(decays):
            break
    return {"lrs": lrs, "sizes": sizes, "decays": decays,
            "lrs_text": ", ".join(f"{v:g}" for v in lrs), "sizes_text": ", ".join(map(str, sizes)),
            "decays_text": ", ".join(f"{v:g}" for v in decays)}


TUNING = [
    Exercise(
        id="hp-grid-count", section="Hyper-parameter tuning", kind="compute", title="The size of a grid",
        page=TUNE_PAGE,
        question="A grid search over learning rates **{lrs_text}**, batch sizes **{sizes_text}** and weight "
                 "decays **{decays_text}**: how many training runs?",
        answer="number", draw=_draw_grid, solve=_grid,
        link=lambda p: {"hp_kind": "Grid", "hp_grid_lr": [labels.rate(v) for v in p["lrs"]],
                        "hp_grid_bs": [str(v) for v in p["sizes"]],
                        "hp_grid_wd": [labels.rate(v) for v in p["decays"]]},
        hints=("Every combination is one run.",),
        explanation="The product of the list lengths: grids grow fast, which is why random search samples a "
                    "fixed number of trials instead. The page lists every trial.",
        misconceptions=((lambda p: len(p["lrs"]) + len(p["sizes"]) + len(p["decays"]),
                         "added the choices instead of multiplying"),
                        (lambda p: len(p["lrs"]) * len(p["sizes"]), "forgot the weight decays"))),
    Exercise(
        id="hp-steps-per-epoch", section="Hyper-parameter tuning", kind="compute", title="Steps in one epoch",
        page=TUNE_PAGE,
        question="**{per_class}** training images per class, 10 classes, batch size **{batch}**: how many "
                 "optimizer steps does one epoch take?",
        answer="number",
        draw=lambda r: {"per_class": r.choice([50, 100, 150, 400]), "batch": r.choice([16, 32, 64, 128, 256])},
        solve=_steps,
        link=lambda p: {"hp_per_class": p["per_class"], "hp_lr_batch": p["batch"]},
        hints=("The last batch may be smaller; it still counts as a step.",),
        explanation="⌈N / batch⌉: a larger batch means fewer, less noisy steps per epoch, which is why the best "
                    "learning rate depends on the batch size.",
        misconceptions=((lambda p: _steps(p, drop_last=True), "dropped the last, smaller batch"),
                        (lambda p: 10 * p["per_class"], "counted images, not batches"))),
    Exercise(
        id="hp-lr-range", section="Hyper-parameter tuning", kind="compute", title="The learning-rate range test",
        page=TUNE_PAGE,
        question="The LR range test raises the rate exponentially from **{lo:g}** to **{hi:g}** over **{steps}** "
                 "steps. Which rate does step **{at}** use (steps counted from 0)?",
        answer="number", tolerance=0.01,
        draw=lambda r: (lambda n: {"lo": r.choice([1e-5, 1e-4]), "hi": r.choice([0.1, 1.0]), "steps": n,
                                   "at": r.choice([n // 4, n // 2, 3 * n // 4])})(r.choice([20, 50, 100, 200])),
        solve=_ramp_lr,
        link=lambda p: {"hp_lr_min": labels.rate(p["lo"]), "hp_lr_max": labels.rate(p["hi"]),
                        "hp_lr_steps": p["steps"]},
        hints=("Equal ratios between steps: lo · (hi/lo)^(s / (steps − 1)).",),
        explanation="The rate grows by the same factor at every step, so the test spends as long on 1e-4..1e-3 "
                    "as on 0.1..1. On the page's log-scale x axis the steps are evenly spaced.",
        misconceptions=((lambda p: p["lo"] + (p["hi"] - p["lo"]) * p["at"] / (p["steps"] - 1),
                         "spaced the rates linearly"),
                        (lambda p: p["lo"] * (p["hi"] / p["lo"]) ** (p["at"] / p["steps"]),
                         "were off by one in the exponent"))),
    Exercise(
        id="hp-search-target", section="Hyper-parameter tuning", kind="target", title="Search for a good setting",
        page=TUNE_PAGE,
        question="With {per_class} images per class and **{epochs}** epochs per trial, find a learning rate and "
                 "batch size whose best validation accuracy is at least **{acc:.0%}**.",
        answer="target",
        draw=lambda r: {"per_class": r.choice([100, 200]), "epochs": r.choice([2, 3]), "acc": r.choice([0.9, 0.93])},
        solve=lambda p: {"best_val_accuracy": p["acc"] + 0.02},
        target=lambda p: Target(at_least=(("best_val_accuracy", p["acc"]),),
                                labels=(("best_val_accuracy", "did not search widely enough"),)),
        link=lambda p: {"hp_per_class": p["per_class"], "hp_epochs": p["epochs"]},
        hints=("Run the LR range test first and search around its suggestion.",),
        explanation="The best trial is read from the results table; a range that misses the good learning rates "
                    "cannot find them, however many trials it runs.",
        misconceptions=((lambda p: {"best_val_accuracy": p["acc"] - 0.1}, "did not search widely enough"),)),
]

# --------------------------------------------------------------------------------------------------- training


def _train_config(opt: str, lr: float) -> TrainConfig:
    return TrainConfig(optimizer=OptimizerConfig(opt, lr=lr), per_class=20, device="cpu")


@lru_cache(maxsize=64)
def _overfit(opt: str, lr: float) -> tuple[bool, str]:
    result = overfit_batch_check(_train_config(opt, lr), mnist_small())
    return result.passed, result.message


def _lr_judge(broken_label: str, direction: str):
    """A judge for a broken learning rate: re-runs the overfit-one-batch sanity check on the fixed setting."""
    def judge(p: Params, setting: dict) -> Verdict:
        opt = str(setting.get("tr_optimizer", p["opt"]))
        if opt not in OPTIMIZERS:
            return Verdict(False, f"'{opt}' is not one of the page's optimizers.")
        key = f"tr_lr_{opt}"
        default = p["lr"] if opt == p["opt"] else float(OPTIMIZERS[opt].defaults["lr"])
        lr = setting.get(key, default)
        if not isinstance(lr, (int, float)) or not (1e-6 <= float(lr) <= 10.0):
            return Verdict(False, f"{key} must be a number between 1e-6 and 10.")
        lr = float(lr)
        if opt == p["opt"] and lr == p["lr"]:
            changed = [k for k in setting if k != key]
            if changed:
                return Verdict(False, f"You changed {', '.join(changed)}, but the learning rate is still "
                                      f"{lr:g}.", "changed another setting, not the learning rate")
            return Verdict(False, f"The learning rate is still {lr:g}.", broken_label)
        passed, message = _overfit(opt, lr)
        if passed:
            return Verdict(True, f"Fixed: {message}")
        wrong_way = (lr > p["lr"]) if direction == "down" else (lr < p["lr"])
        return Verdict(False, f"Still failing: {message}",
                       ("moved the learning rate the wrong way" if wrong_way and opt == p["opt"] else None))
    return judge


TRAINING = [
    Exercise(
        id="train-diverge-bug", section="Training", kind="bug", title="A loss that explodes",
        page=TRAIN_PAGE,
        question="LeNet-5 with SGD at `tr_lr_sgd={lr}`: the loss turns into NaN within a few steps. Fix the "
                 "setting; the 'overfit one batch' sanity check must pass.",
        answer="fix",
        draw=lambda r: {"opt": "sgd", "lr": r.choice([2.0, 5.0, 10.0])},
        solve=lambda p: {"tr_lr_sgd": 0.05},
        judge=_lr_judge("kept the learning rate that diverges", "down"),
        link=lambda p: {"tr_optimizer": labels.optimizer("sgd"), "tr_lr_sgd": p["lr"]},
        hints=("Each step overshoots the minimum by more than it started from.",),
        explanation="Too large a step overshoots further each time until the numbers overflow. A rate 10-100x "
                    "smaller (SGD's default 0.05) learns. The 'Sanity checks' tab runs the overfit check.",
        misconceptions=((lambda p: {"tr_lr_sgd": p["lr"]}, "kept the learning rate that diverges"),
                        (lambda p: {"tr_lr_sgd": p["lr"], "tr_epochs": 10},
                         "changed another setting, not the learning rate"),
                        (lambda p: {"tr_lr_sgd": 10.0} if p["lr"] < 10 else None,
                         "moved the learning rate the wrong way"))),
    Exercise(
        id="train-stuck-bug", section="Training", kind="bug", title="A loss that does not move",
        page=TRAIN_PAGE,
        question="LeNet-5 with Adam at `tr_lr_adam={lr:g}`: the loss sits at 2.30 for the whole run. Fix the "
                 "setting; the 'overfit one batch' sanity check must pass.",
        answer="fix",
        draw=lambda r: {"opt": "adam", "lr": r.choice([1e-6, 2e-6])},
        solve=lambda p: {"tr_lr_adam": 0.001},
        judge=_lr_judge("kept the learning rate that is too small", "up"),
        link=lambda p: {"tr_optimizer": labels.optimizer("adam"), "tr_lr_adam": p["lr"]},
        hints=("2.30 = ln 10: the network still guesses uniformly. Is it learning at all?",),
        explanation="Steps of a millionth barely change the weights: the loss stays at ln 10. Adam's usual "
                    "1e-3 memorizes the batch in a few dozen steps.",
        misconceptions=((lambda p: {"tr_lr_adam": p["lr"]}, "kept the learning rate that is too small"),
                        (lambda p: {"tr_lr_adam": p["lr"], "tr_epochs": 50},
                         "changed another setting, not the learning rate"),
                        (lambda p: {"tr_lr_adam": 1e-6} if p["lr"] > 1e-6 else None,
                         "moved the learning rate the wrong way"))),
    Exercise(
        id="train-small-accurate", section="Training", kind="target", title="Small and accurate",
        page=TRAIN_PAGE,
        question="Train a model that reaches a validation accuracy of at least **{acc:.1%}** with at most "
                 "**{limit:,}** parameters (custom networks from the Architecture page count).",
        answer="target",
        draw=lambda r: (lambda t: {"acc": t[0], "limit": t[1]})(r.choice([(0.97, 20_000), (0.98, 20_000),
                                                                          (0.975, 30_000)])),
        solve=lambda p: {"val_accuracy": p["acc"] + 0.005, "params": p["limit"] - 1000},
        target=lambda p: Target(at_least=(("val_accuracy", p["acc"]),), at_most=(("params", p["limit"]),),
                                labels=(("val_accuracy", "stopped before the model was accurate enough"),
                                        ("params", "used a model larger than allowed"))),
        link=lambda p: {"tr_model": labels.model("lenet5-modern")},
        hints=("LeNet-5 has 61,706 parameters: shrink C5 or the classifier.", "Convolutions are cheap in weights."),
        explanation="Most of LeNet-5's weights sit in C5 and F6; fewer channels there cost little accuracy. The "
                    "Train tab shows the validation accuracy, the Architecture page the parameter count.",
        misconceptions=((lambda p: {"val_accuracy": p["acc"] + 0.01, "params": 61_706},
                         "used a model larger than allowed"),
                        (lambda p: {"val_accuracy": p["acc"] - 0.02, "params": p["limit"] // 2},
                         "stopped before the model was accurate enough"))),
    Exercise(
        id="train-total-steps", section="Training", kind="compute", title="How long a run is",
        page=TRAIN_PAGE,
        question="{per_class} images per class (10 classes), batch size **{batch}**, **{epochs}** epochs: how "
                 "many optimizer steps in the whole run?",
        answer="number",
        draw=lambda r: {"per_class": r.choice([100, 200, 400]), "batch": r.choice([32, 64, 128, 256]),
                        "epochs": r.choice([3, 5, 10])},
        solve=lambda p: p["epochs"] * _steps(p),
        link=lambda p: {"tr_per_class": p["per_class"], "tr_batch": p["batch"], "tr_epochs": p["epochs"]},
        hints=("Steps per epoch = ⌈N / batch⌉.",),
        explanation="epochs x ⌈N / batch⌉: the x axis of the step-loss curve ends there.",
        misconceptions=((lambda p: p["epochs"] * _steps(p, drop_last=True), "dropped the last, smaller batch"),
                        (lambda p: _steps(p), "counted one epoch only"))),
]

# -------------------------------------------------------------------------------------------------- TensorBoard


def _smoothed(p: Params, debias: bool = True) -> float:
    values = pd.Series(p["values"], dtype=float)
    return float(values.ewm(alpha=1 - p["w"], adjust=debias).mean().iloc[-1])


def _scheduled_lr(p: Params) -> float:
    config = ScheduleConfig(name=p["schedule"])
    return p["lr"] * lr_factor(p["at"], p["total"], config)


TENSORBOARD = [
    Exercise(
        id="tb-step-points", section="TensorBoard", kind="compute", title="Points on a TensorBoard curve",
        page=TRAIN_PAGE,
        question="With 'Write a TensorBoard log' on, every optimizer step writes one `step/train_loss` point. "
                 "{per_class} images per class (10 classes), batch **{batch}**, **{epochs}** epochs: how many "
                 "points does that curve get?",
        answer="number",
        draw=lambda r: {"per_class": r.choice([50, 100, 400]), "batch": r.choice([32, 64, 128]),
                        "epochs": r.choice([2, 3, 5])},
        solve=lambda p: p["epochs"] * _steps(p),
        link=lambda p: {"tr_tensorboard": "true", "tr_per_class": p["per_class"], "tr_batch": p["batch"],
                        "tr_epochs": p["epochs"]},
        hints=("One point per optimizer step, not per epoch.",),
        explanation="epochs x ⌈N / batch⌉ points; the `epoch/...` curves get one point per epoch. The "
                    "TensorBoard tab reads the log back and draws both.",
        misconceptions=((lambda p: p["epochs"], "counted epochs, not steps"),
                        (lambda p: p["epochs"] * _steps(p, drop_last=True), "dropped the last, smaller batch"))),
    Exercise(
        id="tb-smoothing", section="TensorBoard", kind="compute", title="TensorBoard's smoothing",
        page=TRAIN_PAGE,
        question="TensorBoard smooths a curve with weight **{w}** (an exponential moving average, corrected for "
                 "its start). The raw losses are **{text}**. What is the smoothed value at the last point?",
        answer="number", tolerance=0.005,
        draw=lambda r: (lambda v: {"w": r.choice([0.5, 0.6, 0.9]), "values": v,
                                   "text": ", ".join(f"{x:g}" for x in v)})(
            tuple(round(r.uniform(0.5, 2.5), 1) for _ in range(r.choice([3, 4])))),
        solve=_smoothed,
        link=lambda p: {"tr_tensorboard": "true"},
        hints=("s ← w·s + (1 − w)·x, then divide by 1 − w^t.",),
        explanation="A debiased exponential moving average: without the correction the first points would be "
                    "pulled towards 0.",
        misconceptions=((lambda p: _smoothed(p, debias=False), "forgot the start-up correction"),
                        (lambda p: sum(p["values"]) / len(p["values"]), "took the plain mean"))),
    Exercise(
        id="tb-lr-curve", section="TensorBoard", kind="compute", title="Reading the step/lr curve",
        page=TRAIN_PAGE,
        question="Base learning rate **{lr:g}** with the **{schedule}** schedule over **{total}** steps: which "
                 "value does TensorBoard's `step/lr` curve show at step **{at}** (counted from 0)?",
        answer="number", tolerance=0.01,
        draw=lambda r: (lambda n: {"lr": r.choice([0.1, 0.01, 0.001]), "schedule": "cosine", "total": n,
                                   "at": r.choice([n // 4, n // 2, 3 * n // 4])})(r.choice([100, 200, 400])),
        solve=_scheduled_lr,
        link=lambda p: {"tr_tensorboard": "true", "tr_schedule": labels.schedule(p["schedule"])},
        hints=("Cosine: lr · (1 + cos(π · t / T)) / 2.",),
        explanation="Half a cosine from the base rate to 0: half the rate at the middle. The TensorBoard tab's "
                    "step/lr curve shows the whole schedule.",
        misconceptions=((lambda p: p["lr"] * (1 - p["at"] / p["total"]), "took the schedule for a straight line"),
                        (lambda p: p["lr"], "thought the rate stays constant"))),
]

# --------------------------------------------------------------------------------------------- saving / restoring

MODEL_CHOICES = ("lenet5-modern", "mlp")


def _state(p: Params) -> dict[str, torch.Tensor]:
    return meta_model(p["model"], ModelOptions(batch_norm=p["bn"])).state_dict()


def _bytes(p: Params, per_value: int = 4, buffers: bool = True) -> int:
    model = meta_model(p["model"], ModelOptions(batch_norm=p["bn"]))
    tensors = model.state_dict().values() if buffers else model.parameters()
    return int(sum(t.numel() * (per_value if t.is_floating_point() else t.element_size()) for t in tensors))


LOAD_CHOICES = ("loads without an error", "fails: size mismatch", "fails: missing / unexpected keys")
LOAD_CASES = {
    "lenet5-modern into lenet5-classic": (("lenet5-modern", {}), ("lenet5-classic", {})),
    "lenet5-modern (10 classes) into lenet5-modern (26 classes)": (("lenet5-modern", {}),
                                                                  ("lenet5-modern", {"num_classes": 26})),
    "mlp into lenet5-modern": (("mlp", {}), ("lenet5-modern", {})),
    "lenet5-modern into lenet5-modern with batch norm": (("lenet5-modern", {}),
                                                        ("lenet5-modern", {"batch_norm": True})),
}


@lru_cache(maxsize=8)
def _load_outcome(case: str) -> str:
    (src, src_options), (dst, dst_options) = LOAD_CASES[case]
    state = build_model(src, ModelOptions(**src_options)).state_dict()
    try:
        build_model(dst, ModelOptions(**dst_options)).load_state_dict(state)  # strict=True, as torch defaults
    except RuntimeError as exc:
        return LOAD_CHOICES[1] if "size mismatch" in str(exc) else LOAD_CHOICES[2]
    return LOAD_CHOICES[0]


SAVING = [
    Exercise(
        id="save-bytes", section="Saving / restoring", kind="compute", title="The size of a checkpoint",
        page=TRAIN_PAGE,
        question="The `state_dict` of **{model}** (batch norm: {bn}), stored as float32: how many bytes of "
                 "numbers (without file overhead)?",
        answer="number", unit="bytes",
        draw=lambda r: {"model": r.choice(MODEL_CHOICES), "bn": r.choice([False, True])},
        solve=_bytes,
        link=lambda p: {"tr_model": labels.model(p["model"]), "tr_bn": str(p["bn"]).lower()},
        hints=("4 bytes per float32 value; batch norm's running statistics are saved too.",),
        explanation="4 bytes per value of every tensor in the state dict (parameters and buffers); the "
                    "checkpoint on the Save tab is slightly larger (config, metrics, zip headers).",
        misconceptions=((lambda p: _bytes(p, per_value=1), "forgot that a float32 takes 4 bytes"),
                        (lambda p: _bytes(p, per_value=8), "counted 8 bytes per value (float64)"),
                        (lambda p: _bytes(p, buffers=False), "left out batch norm's running statistics"))),
    Exercise(
        id="save-state-keys", section="Saving / restoring", kind="compute", title="What a state_dict holds",
        page=TRAIN_PAGE,
        question="How many entries (tensors) does `state_dict()` of **{model}** with batch norm = {bn} hold?",
        answer="number",
        draw=lambda r: {"model": r.choice(MODEL_CHOICES), "bn": r.choice([False, True])},
        solve=lambda p: len(_state(p)),
        link=lambda p: {"tr_model": labels.model(p["model"]), "tr_bn": str(p["bn"]).lower()},
        hints=("Weights and biases are separate entries; so are running means and variances.",),
        explanation="Every parameter plus every buffer (running_mean, running_var, num_batches_tracked per "
                    "batch-norm layer). The Save tab lists the checkpoint's tensors.",
        misconceptions=((lambda p: len(list(meta_model(p["model"], ModelOptions(batch_norm=p["bn"])).parameters())),
                         "counted only the parameters"),
                        (lambda p: sum(1 for m in meta_model(p["model"], ModelOptions(batch_norm=p["bn"])).modules()
                                       if isinstance(m, (nn.Conv2d, nn.Linear))), "counted layers, not tensors"))),
    Exercise(
        id="save-load-mismatch", section="Saving / restoring", kind="predict", title="Restoring into another model",
        page=TRAIN_PAGE,
        question="Load the weights of **{case}** with `load_state_dict` (strict, the default). What happens?",
        answer="choice",
        draw=lambda r: {"case": r.choice(sorted(LOAD_CASES))},
        solve=lambda p: _load_outcome(p["case"]),
        choices=lambda p: LOAD_CHOICES,
        observe=lambda p, m: _load_outcome(p["case"]),
        link=lambda p: {},
        hints=("load_state_dict matches tensors by name, then checks shapes.",),
        explanation="Same names and shapes load, even into a different activation or pooling (LeNet classic). "
                    "Another class count changes the last layer's shape; other layers or inserted batch norms "
                    "change the names. The Save tab refuses a checkpoint of another model with the reason.",
        misconceptions=((lambda p: LOAD_CHOICES[0] if _load_outcome(p["case"]) != LOAD_CHOICES[0] else None,
                         "thought load_state_dict adapts the weights"),
                        (lambda p: LOAD_CHOICES[2] if _load_outcome(p["case"]) == LOAD_CHOICES[0] else None,
                         "thought the activation or pooling is saved in the weights"))),
]

EXERCISES = [*TUNING, *TRAINING, *TENSORBOARD, *SAVING]
