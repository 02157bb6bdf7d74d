"""Export the Segmentation page's experiment (U-Net with and without skips) as a plain PyTorch script and notebook.

Every exported step mirrors a cnn_core.vision.segmentation function: the same module order (so the same seed
gives the same initial weights), the same loss, schedule and metrics, the same batch order and memory layout.
Run on the CPU with the app's thread count, the script prints the app's SegmentationRun records.
"""
from __future__ import annotations

import json
import re
from dataclasses import fields
from typing import Mapping

from cnn_core.errors import InvalidConfig
from cnn_core.export import snippets
from cnn_core.export.bundle import zip_bundle
from cnn_core.export.cells import Cell, to_notebook, to_script
from cnn_core.export.scene_code import scene_settings, scenes_code
from cnn_core.training.config import DIVERGENCE_FACTOR, DIVERGENCE_LOSS
from cnn_core.training.optimizers import FOREACH_BIT_IDENTICAL, OPTIMIZERS
from cnn_core.vision.segmentation import MASK_PALETTE, MODES, SegConfig, class_names

SegConfigs = SegConfig | Mapping[str, SegConfig]

# The SegConfig fields the exported RUNS entry holds, grouped as the script shows them; the scene fields become
# the run's "scenes" settings (the generated make_scenes reads them). A field missing here is not exported.
RUN_FIELDS: dict[str, tuple[str, ...]] = {
    "the network": ("base", "depth", "skips", "norm", "mode"),
    "the loss": ("loss", "background_weight"),
    "the optimizer, its schedule and the weight average": ("lr", "schedule", "ema"),
    "the training": ("epochs", "batch_size", "seed"),
    "the scenes": ("train_scenes", "val_scenes"),
}
SCENE_FIELDS = ("scene_seed", "canvas", "max_digits")  # read through SegConfig.scenes(split)

LABELS = {True: "U-Net (skips on)", False: "Encoder-decoder (skips off)"}  # a single config's run label


def as_seg_runs(configs: SegConfigs) -> dict[str, SegConfig]:
    """{run label: config} of one SegConfig (labelled by its skips) or a dict of them, each validated."""
    runs = {LABELS[configs.skips]: configs} if isinstance(configs, SegConfig) else \
        {str(label): config for label, config in configs.items()}
    if not runs:
        raise InvalidConfig("Nothing to export: train the segmenters first")
    for label, config in runs.items():
        if not isinstance(config, SegConfig):
            raise InvalidConfig(f"Cannot export {type(config).__name__}: a SegConfig is needed")
        if '"' in label:
            raise InvalidConfig("A run label cannot contain a double quote (the printed records quote it)")
        config.validate()
    return runs


def exported_fields() -> set[str]:
    """Every SegConfig field the exported script reads (the RUNS groups and the scene settings)."""
    return {name for group in RUN_FIELDS.values() for name in group} | set(SCENE_FIELDS)


def _adam_kwargs() -> str:
    """The keyword arguments besides lr that make_optimizer(OptimizerConfig('adam', lr)) gives torch.optim.Adam."""
    spec = OPTIMIZERS["adam"]
    kwargs = dict(spec.defaults)
    if "weight_decay" not in spec.defaults:
        kwargs["weight_decay"] = 0.0
    if spec.cls in FOREACH_BIT_IDENTICAL:
        kwargs["foreach"] = True
    return ", ".join(f"{k}={v!r}" for k, v in kwargs.items() if k != "lr")


# ------------------------------------------------------------------ the generated code, step by step

DATA_MARKDOWN = """## Data: digit scenes and their masks

Real MNIST digits (the mnist-5k set, split with seed 0 as the app splits it) pasted at random sizes and places
on a black canvas. Each scene comes with its **mask**: one class per pixel, 0 = background and 1 + the digit's
class on the digit's ink. Scene i depends only on (seed, split, i), so these are the app's scenes exactly.
In 'foreground' mode every digit class collapses into one: digit or background."""

DATA_TAIL = '''
# The label of every output channel, per mode
CLASS_NAMES = __CLASS_NAMES__
# Background black, then ten distinct colours (the digit classes 0-9): the page's legend uses the same list
MASK_PALETTE = np.array(__PALETTE__, dtype=np.uint8)


@functools.lru_cache(maxsize=4)
def scenes_of(settings, split, count):
    """The scenes of one split, generated once (the runs of a comparison share them); settings as item pairs."""
    return make_scenes(dict(settings), split, count)


def scene_set(run, split):
    """(images N x 1 x H x W in [0, 1], targets N x H x W class indices) of a split, in the run's mode."""
    count = run["train_scenes"] if split == "train" else run["val_scenes"]
    scenes = scenes_of(tuple(sorted(run["scenes"].items())), split, count)
    masks = scenes["masks"]  # 0 = background, 1 + digit class on the ink
    return scenes["images"], masks if run["mode"] == "digits" else (masks > 0).long()


def mask_to_rgb(mask):
    """H x W class indices -> H x W x 3 uint8 picture in MASK_PALETTE colours."""
    return MASK_PALETTE[mask.clamp(0, len(MASK_PALETTE) - 1).numpy()]
'''

MODEL_MARKDOWN = """## The model: an encoder-decoder, with or without skip connections

The **encoder** repeats a double 3 x 3 convolution (padding 1 keeps the size) and a 2 x 2 **max-pooling** that
halves the height and width: the maps get smaller and deeper (the channels double per level) and see more of the
scene. The **decoder** grows the image back with 2 x 2 **transposed convolutions** of stride 2 (each doubles the
size), each followed by a double convolution. A 1 x 1 convolution ends in one score per class and pixel.

With **skip connections** (a U-Net, Ronneberger et al. 2015) every decoder level **concatenates** the encoder's
maps of the same size before its convolutions: the fine detail that pooling threw away comes back, and the borders
get sharp. Without them the same network must rebuild the borders from the coarse bottleneck alone.
Normalization after every convolution: batch norm, or group norm (4 channels a group, each scene by itself)."""

MODEL = '''
def make_norm(kind, channels):
    """Batch norm, or group norm with 4 channels a group (no batch statistics: the same in training and eval)."""
    return nn.BatchNorm2d(channels) if kind == "batch" else nn.GroupNorm(max(1, channels // 4), channels)


def double_conv(c_in, c_out, norm):
    """Two 3 x 3 convolutions, each + norm + ReLU (padding 1 keeps the size; the receptive field grows by 4 px)."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), make_norm(norm, c_out), nn.ReLU(inplace=True),
                         nn.Conv2d(c_out, c_out, 3, padding=1), make_norm(norm, c_out), nn.ReLU(inplace=True))


class UNet(nn.Module):
    """Encoder (double conv + max-pool, `depth` times), bottleneck, decoder (transposed conv + double conv)."""

    def __init__(self, in_channels, num_classes, base, depth, skips, norm):
        """Build the layers; the order of creation decides which random numbers each weight gets."""
        super().__init__()
        self.skips = skips
        widths = [base * 2 ** i for i in range(depth + 1)]  # channels per level, e.g. 8, 16, 32, 64
        self.down = nn.ModuleList()
        c = in_channels
        for w in widths[:-1]:
            self.down.append(double_conv(c, w, norm))
            c = w
        self.pool = nn.MaxPool2d(2)  # 2 x 2 max-pooling: H x W -> H/2 x W/2
        self.bottleneck = double_conv(widths[-2], widths[-1], norm)
        self.up = nn.ModuleList()
        self.dec = nn.ModuleList()
        for w_low, w in zip(reversed(widths[1:]), reversed(widths[:-1])):
            self.up.append(nn.ConvTranspose2d(w_low, w, kernel_size=2, stride=2))  # H x W -> 2H x 2W
            # with skips the decoder sees its own w channels and the encoder's w channels, concatenated
            self.dec.append(double_conv(2 * w if skips else w, w, norm))
        self.head = nn.Conv2d(widths[0], num_classes, kernel_size=1)  # a class score per pixel

    def forward(self, x):
        """N x 1 x H x W scenes (H, W multiples of 2**depth) -> N x K x H x W per-pixel class scores."""
        saved = []
        for block in self.down:
            x = block(x)
            saved.append(x)  # N x w x H' x W': kept for the skip connection
            x = self.pool(x)  # halves H' and W'
        x = self.bottleneck(x)  # the coarsest, deepest maps
        for up, dec, skip in zip(self.up, self.dec, reversed(saved)):
            x = up(x)  # doubles the size back to the encoder map's
            x = dec(torch.cat([skip, x], dim=1) if self.skips else x)  # concatenation along the channels
        return self.head(x)
'''

LOSS_MARKDOWN = """## Loss: per-pixel cross-entropy and soft Dice

Segmentation is classification of every pixel: the **cross-entropy** is averaged over all pixels. Background is
most of every scene (~93 % of the pixels), so its weight can be lowered (`background_weight`): a confused digit
then costs what it should. **Soft Dice** scores the overlap of the softmax probabilities with the true mask per
class, 2 |P * T| / (|P| + |T|), which is what IoU measures; the app can use either or their sum."""

LOSS = '''
def class_weights(num_classes, background):
    """Cross-entropy weights: `background` for class 0, 1 for every digit class."""
    weights = torch.ones(num_classes)
    weights[0] = background
    return weights


def dice_loss(logits, target, eps=1.0):
    """1 - mean soft Dice over the classes, with softmax probabilities (eps keeps absent classes finite)."""
    probs = logits.softmax(dim=1)  # N x K x H x W
    onehot = F.one_hot(target, logits.shape[1]).permute(0, 3, 1, 2).float()  # N x H x W -> N x K x H x W
    inter = (probs * onehot).sum(dim=(0, 2, 3))  # K: the soft overlap per class
    total = probs.sum(dim=(0, 2, 3)) + onehot.sum(dim=(0, 2, 3))
    return 1 - ((2 * inter + eps) / (total + eps)).mean()


def segmentation_loss(name, logits, target, background_weight=1.0):
    """Per-pixel cross-entropy (background weighted), soft Dice, or their sum, of N x K x H x W logits."""
    weight = class_weights(logits.shape[1], background_weight).to(logits.device) if background_weight != 1.0 \\
        else None
    if name == "cross-entropy":
        return F.cross_entropy(logits, target, weight=weight)
    if name == "dice":
        return dice_loss(logits, target)
    return F.cross_entropy(logits, target, weight=weight) + dice_loss(logits, target)
'''

OPTIMIZER_MARKDOWN = """## Optimization: Adam, a learning-rate schedule and weight averaging

**Adam** (momentum + RMSprop with bias correction) at the run's peak rate, multiplied at every optimizer step by
the schedule: 'cosine' warms up linearly over the first 5 % of the steps, then follows half a cosine down to 0.02
of the rate; 'decay' keeps the full rate for three quarters, then decays linearly to 0.02; 'constant' keeps it.

With `ema` > 0 the network that is scored and shown is an **exponential moving average** of the trained network's
weights (and batch-norm statistics), updated after every step: averaged = d * averaged + (1 - d) * trained. The
noise of single steps averages out, so the validation curve is steadier. d warms up, (1 + n) / (10 + n) after n
updates, until it reaches `ema`: a short run's average is not stuck near the random start."""

OPTIMIZER = '''
def make_optimizer(model, lr):
    """Adam with the app's settings (the multi-tensor kernel gives the same weights as the per-parameter loop)."""
    return torch.optim.Adam(model.parameters(), lr=lr, __ADAM__)


def lr_factor(step, total, schedule):
    """Multiplier of the base learning rate at optimizer step `step` (0-based) of `total` planned steps."""
    if schedule == "decay":  # the full rate, then a linear decay to 0.02 over the last quarter
        start = int(total * 0.75)
        return 1.0 if step < start else max(0.02, 1 - (step - start) / max(1, total - start))
    if schedule == "constant":
        return 1.0
    warmup = max(1, total // 20)  # cosine: a linear warm-up over 5 % of the steps ...
    if step < warmup:
        return (step + 1) / warmup
    t = min((step - warmup) / max(max(total - warmup, 1), 1), 1.0)  # ... then half a cosine from 1 to 0.02
    return 0.02 + (1 - 0.02) * 0.5 * (1 + math.cos(math.pi * t))


def ema_decay(ema, updates):
    """The average's weight on itself at update number `updates` (1, 2, ...): a warm-up, then `ema`."""
    return min(ema, (1 + updates) / (10 + updates))


def make_average(net, ema):
    """A moving average of net's weights and buffers (torch's AveragedModel), or None when ema is 0."""
    if ema <= 0:
        return None

    def average(averaged, current, updates):
        """One tensor's new average; `updates` counts the updates before this one."""
        decay = ema_decay(ema, int(updates))
        return averaged * decay + current * (1 - decay)

    # a deep copy of net; its first update copies net's weights, later ones call `average`
    return torch.optim.swa_utils.AveragedModel(net, avg_fn=average, use_buffers=True)
'''

METRICS_MARKDOWN = """## Evaluation: IoU, mIoU and boundary accuracy

The **confusion matrix** counts every pixel by (true class, predicted class). A class's **IoU** (intersection over
union) is TP / (TP + FP + FN); **mIoU** averages it over the digit classes present (background left out: predicting
'background' everywhere would otherwise score well). Pixel accuracy is dominated by background; the **boundary
accuracy** is the accuracy within 2 px of the true borders, where a network without skips gets blurry."""

METRICS = '''
def confusion_matrix(pred, target, num_classes):
    """K x K pixel counts: row = true class, column = predicted class."""
    index = target.reshape(-1) * num_classes + pred.reshape(-1)
    return torch.bincount(index, minlength=num_classes ** 2).reshape(num_classes, num_classes)


def iou_per_class(confusion):
    """IoU = TP / (TP + FP + FN) per class; NaN for a class absent from both truth and prediction."""
    tp = confusion.diag().double()
    union = confusion.sum(0).double() + confusion.sum(1).double() - tp
    return torch.where(union > 0, tp / union.clamp(min=1), torch.full_like(tp, math.nan))


def mean_iou(confusion):
    """Mean IoU over the digit classes present (class 0, the background, left out)."""
    ious = iou_per_class(confusion)[1:]
    ious = ious[~torch.isnan(ious)]
    return float(ious.mean()) if len(ious) else math.nan


def boundary_band(mask, width=2):
    """N x H x W bool: pixels within `width` px of a change of class (a max-pool and a min-pool differ there)."""
    m = mask.unsqueeze(1).float()  # N x 1 x H x W
    k = 2 * width + 1
    hi = F.max_pool2d(m, k, stride=1, padding=width)
    lo = -F.max_pool2d(-m, k, stride=1, padding=width)
    return (hi != lo).squeeze(1)


def boundary_accuracy(pred, target, width=2):
    """Pixel accuracy inside the band around the true borders."""
    band = boundary_band(target, width)
    return float((pred[band] == target[band]).float().mean()) if band.any() else math.nan


@torch.no_grad()
def evaluate(model, images, target, loss_name):
    """Validation loss, pixel accuracy, per-class IoU, mIoU and boundary accuracy (eval mode, batches of 64)."""
    model.eval()
    logits = torch.cat([model(images[i:i + 64].to(DEVICE)).cpu() for i in range(0, len(images), 64)])
    model.train()
    pred = logits.argmax(1)  # N x H x W predicted classes
    confusion = confusion_matrix(pred, target, logits.shape[1])
    # the validation loss weighs every class the same (no background weight), as the app reports it
    return {"val_loss": float(segmentation_loss(loss_name, logits, target)),
            "pixel_acc": float((pred == target).float().mean()),
            "class_iou": [float(v) for v in iou_per_class(confusion)],
            "miou": mean_iou(confusion), "boundary_acc": boundary_accuracy(pred, target)}


@torch.no_grad()
def predict_masks(model, images):
    """N x H x W predicted classes, in eval mode and batches of 64."""
    model.eval()
    pred = torch.cat([model(images[i:i + 64].to(DEVICE)).argmax(1).cpu() for i in range(0, len(images), 64)])
    model.train()
    return pred
'''

TRAIN_MARKDOWN = """## The training loop

Seed, build, channels_last layout (what the app uses on the CPU: it decides which kernels run, hence the
rounding), Adam, schedule. Every epoch shuffles the scenes with a seeded generator and cuts them into
mini-batches: forward (a score per class and pixel), loss, backward, optimizer step, schedule step. After each
epoch the validation scenes are scored. Every line printed is one record: the app's numbers, to the last digit."""

TRAIN = '''
def train(number, label, run):
    """Train one run of RUNS; print a line per optimizer step and per epoch; return its records and its model."""
    print(f'run={number} label="{label}"')
    train_x, train_t = scene_set(run, "train")  # N x 1 x H x W scenes, N x H x W targets
    val_x, val_t = scene_set(run, "val")
    seed_everything(run["seed"])  # the same seed gives the same initial weights
    net = UNet(1, len(CLASS_NAMES[run["mode"]]), run["base"], run["depth"], run["skips"], run["norm"])
    net = net.to(DEVICE).to(memory_format=torch.channels_last)  # the network the optimizer trains
    average = make_average(net, run["ema"])
    model = average.module if average is not None else net  # the network that is scored and shown
    optimizer = make_optimizer(net, run["lr"])
    total_steps = run["epochs"] * math.ceil(len(train_x) / run["batch_size"])
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, total_steps, run["schedule"]))
    order_generator = torch.Generator().manual_seed(run["seed"])  # the batch order of every epoch
    records, step, first_loss = [], 0, None
    for epoch in range(1, run["epochs"] + 1):
        net.train()
        order = torch.randperm(len(train_x), generator=order_generator)  # a new order every epoch
        losses = []
        for first in range(0, len(order), run["batch_size"]):
            idx = order[first:first + run["batch_size"]]  # one mini-batch per optimizer step
            lr = optimizer.param_groups[0]["lr"]
            logits = net(train_x[idx].to(DEVICE))  # B x K x H x W class scores
            loss = segmentation_loss(run["loss"], logits, train_t[idx].to(DEVICE), run["background_weight"])
            value = loss.item()
            # a NaN, infinite or exploding loss ends the run (usually: the learning rate is too large)
            first_loss = value if first_loss is None else first_loss
            limit = min(__DIVERGENCE_LOSS__, __DIVERGENCE_FACTOR__ * max(first_loss, 1e-3))
            if not math.isfinite(value) or value > limit:
                print(f"run={number} diverged step={step + 1}")
                return records, model
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # backpropagation through decoder, skips and encoder
            optimizer.step()
            scheduler.step()  # the schedule moves once per optimizer step
            if average is not None:
                average.update_parameters(net)  # the moving average follows the trained weights
            step += 1
            losses.append(value)
            records.append({"kind": "step", "epoch": epoch, "step": step, "loss": value, "lr": lr})
            print(f"run={number} step={step} epoch={epoch} loss={value!r} lr={lr!r}")
        metrics = evaluate(model, val_x, val_t, run["loss"])
        train_loss = sum(losses) / len(losses)
        records.append({"kind": "epoch", "epoch": epoch, "step": step, "train_loss": train_loss, **metrics})
        print(f"run={number} epoch={epoch} train_loss={train_loss!r} val_loss={metrics['val_loss']!r} "
              f"pixel_acc={metrics['pixel_acc']!r} miou={metrics['miou']!r} "
              f"boundary_acc={metrics['boundary_acc']!r}")
    print(f"run={number} miou={metrics['miou']!r} pixel_acc={metrics['pixel_acc']!r} "
          f"boundary_acc={metrics['boundary_acc']!r}")
    return records, model
'''

RUN_ALL = '''
if __name__ == "__main__":
    results = {label: train(number, label, run) for number, (label, run) in enumerate(RUNS.items(), start=1)}
    histories = {label: records for label, (records, model) in results.items()}
    models = {label: model for label, (records, model) in results.items()}
'''

PLOTS = '''
def plot_miou(histories):
    """Validation mIoU per epoch, one line per run: what the skip connections add."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, records in histories.items():
        epochs = pd.DataFrame([r for r in records if r["kind"] == "epoch"])
        if not epochs.empty:
            ax.plot(epochs.epoch, epochs.miou, marker="o", label=label)
    ax.set(xlabel="epoch", ylabel="mIoU (digits)", title="Validation mIoU per epoch", ylim=(-0.02, 1.02))
    ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))  # whole epochs only
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_scene(models, index=0):
    """One validation scene: the image, its true mask and each run's predicted mask side by side."""
    first = next(iter(RUNS.values()))
    images, target = scene_set(first, "val")
    fig, axes = plt.subplots(1, 2 + len(models), figsize=(2.6 * (2 + len(models)), 3))
    axes[0].imshow(images[index, 0], cmap="gray")
    axes[0].set_title("scene")
    axes[1].imshow(mask_to_rgb(target[index]))
    axes[1].set_title("true mask")
    for ax, (label, model) in zip(axes[2:], models.items()):
        run_images, _ = scene_set(RUNS[label], "val")
        ax.imshow(mask_to_rgb(predict_masks(model, run_images[index:index + 1])[0]))
        ax.set_title(label, fontsize=8)
    for ax in axes:
        ax.axis("off")
    fig.tight_layout()
    return fig


def class_iou_table(histories):
    """The last epoch's IoU of every class, one row per run."""
    last = {label: [r for r in records if r["kind"] == "epoch"] for label, records in histories.items()}
    rows = {label: pd.Series(epochs[-1]["class_iou"], index=CLASS_NAMES[RUNS[label]["mode"]])
            for label, epochs in last.items() if epochs}  # a Series per run: its mode names its classes
    return pd.DataFrame(rows).T.round(3)
'''

PLOTS_SHOW = PLOTS + '''

if __name__ == "__main__":
    print(class_iou_table(histories))
    plot_miou(histories)
    plot_scene(models)
    plt.show()
'''

PLOTS_SAVE = PLOTS + '''

if __name__ == "__main__":
    print(class_iou_table(histories))
    plot_miou(histories).savefig("__MIOU__", dpi=100)
    plot_scene(models).savefig("__MASKS__", dpi=100)
    print("saved __MIOU__ and __MASKS__")
'''


# ------------------------------------------------------------------ the cells, from the configs


def _data_cell() -> Cell:
    """The mnist-5k loader, the scene generator and the per-mode targets."""
    names = "{\n" + "".join(f"    {_literal(mode)}: ({', '.join(map(_literal, class_names(mode)))}),\n"
                            for mode in MODES) + "}"
    palette = "(\n" + "".join(f"    {colour!r},  # {name}\n" for colour, name in
                              zip(MASK_PALETTE, class_names("digits"))) + ")"
    tail = DATA_TAIL.replace("__CLASS_NAMES__", names).replace("__PALETTE__", palette)
    code = ("def raw_images(dataset):\n"
            '    """uint8 images and int64 labels of the mnist-5k pool (the scenes\' digits)."""\n'
            + snippets.RAW_MNIST_5K.strip("\n") + '\n    raise ValueError(f"unknown dataset {dataset}")\n\n\n'
            + snippets.DATA.strip("\n") + "\n\n" + scenes_code().rstrip("\n") + "\n\n" + tail)
    return Cell(DATA_MARKDOWN, code)


def _optimizer_cell() -> Cell:
    """Adam with make_optimizer's keyword arguments, and the schedule's multiplier."""
    return Cell(OPTIMIZER_MARKDOWN, OPTIMIZER.replace("__ADAM__", _adam_kwargs()))


def _train_cell() -> Cell:
    """The training loop, with the app's divergence rule."""
    code = (TRAIN.replace("__DIVERGENCE_LOSS__", repr(float(DIVERGENCE_LOSS)))
            .replace("__DIVERGENCE_FACTOR__", repr(float(DIVERGENCE_FACTOR))))
    return Cell(TRAIN_MARKDOWN, code)


def _literal(value: object) -> str:
    """A Python literal of a setting, strings in double quotes (the style of the rest of the script)."""
    return json.dumps(value) if isinstance(value, str) else repr(value)


def _dict_literal(values: Mapping[str, object]) -> str:
    """A one-line dict literal with double-quoted keys."""
    return "{" + ", ".join(f"{_literal(k)}: {_literal(v)}" for k, v in values.items()) + "}"


def run_settings(config: SegConfig) -> str:
    """A RUNS entry (a dict literal, grouped with comments) of one config."""
    lines = []
    for comment, names in RUN_FIELDS.items():
        lines.append(f"        # {comment}")
        lines.append("        " + _dict_literal({name: getattr(config, name) for name in names})[1:-1] + ",")
    # the generated make_scenes reads these; the split and the count come from the run
    items = [f"{_literal(k)}: {_literal(v)}" for k, v in scene_settings(config.scenes("train")).items()]
    rows = [", ".join(items[i:i + 4]) for i in range(0, len(items), 4)]  # 4 settings a line
    lines.append('        "scenes": {' + (",\n" + " " * 19).join(rows) + "},")
    return "{\n" + "\n".join(lines) + "\n    }"


def _differing(runs: dict[str, SegConfig]) -> list[str]:
    """The exported settings in which the runs differ (e.g. ['skips'] for the page's comparison)."""
    configs = list(runs.values())
    return [f.name for f in fields(SegConfig) if f.name in exported_fields()
            and any(getattr(c, f.name) != getattr(configs[0], f.name) for c in configs[1:])]


def _runs_cell(runs: dict[str, SegConfig]) -> Cell:
    """The RUNS dict: the app's settings of every run."""
    entries = "\n".join(f"    {_literal(label)}: {run_settings(config)}," for label, config in runs.items())
    differing = _differing(runs)
    if len(runs) == 1:
        what = "The settings of the app's run."
    elif differing:
        what = (f"The settings of the app's {len(runs)} runs, trained one after another; they differ only in "
                f"{', '.join(f'`{name}`' for name in differing)}, so that is what their curves compare.")
    else:
        what = f"The settings of the app's {len(runs)} runs, trained one after another."
    return Cell(f"## The runs\n\n{what} These are **hyperparameters**: change one (`skips`, `norm`, `loss`, "
                "`background_weight`, `lr`, `schedule`, `epochs` ...) and run again.", "RUNS = {\n" + entries + "\n}\n")


def _train_markdown(runs: dict[str, SegConfig]) -> str:
    """What the training cell prints, and the lesson when the runs are the U-Net and its no-skips twin."""
    text = ("## Train\n\nEach run prints `step=... loss=...` per optimizer step, its validation metrics per epoch and "
            "`miou=...` at the end.")
    if _differing(runs) == ["skips"]:
        text += (" Watch the mIoU and the boundary accuracy: with enough epochs the U-Net beats the network "
                 "without skips, because the concatenated encoder maps carry the detail that pooling threw away.")
    return text


def _file_stem(name: str) -> str:
    """A file-name-safe version of the export's name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def segmentation_cells(configs: SegConfigs, name: str = "unet_segmenter") -> list[Cell]:
    """Every step of the exported segmentation experiment, as markdown + code cells."""
    runs = as_seg_runs(configs)
    stem = _file_stem(name)
    save = PLOTS_SAVE.replace("__MIOU__", f"{stem}_miou.png").replace("__MASKS__", f"{stem}_masks.png")
    return [
        Cell("", snippets.IMPORTS.strip("\n")),
        _data_cell(),
        Cell(MODEL_MARKDOWN, MODEL),
        Cell(LOSS_MARKDOWN, LOSS),
        _optimizer_cell(),
        Cell(METRICS_MARKDOWN, METRICS),
        _train_cell(),
        _runs_cell(runs),
        Cell(_train_markdown(runs), RUN_ALL),
        Cell("## Results\n\nThe final IoU of every class, both validation mIoU curves, and one validation scene "
             "with its true mask and each network's prediction side by side.", PLOTS_SHOW, save),
    ]


def _intro(runs: dict[str, SegConfig]) -> str:
    """What the export is, for the docstring and the notebook's title cell."""
    return (f"Exported from CNN Playground's Segmentation page: {', '.join(runs)}. Plain PyTorch (no playground "
            "code): with the same seed on the CPU and the same number of torch threads it prints the app's records "
            "(the same losses, the same validation mIoU).")


def segmentation_script(configs: SegConfigs, name: str = "unet_segmenter") -> str:
    """One runnable .py script (plain PyTorch) that trains the runs one after another and prints their records."""
    runs = as_seg_runs(configs)
    return to_script(segmentation_cells(runs, name), f"{name}: {_intro(runs)}\n\nRun: python3 {_file_stem(name)}.py")


def segmentation_notebook(configs: SegConfigs, name: str = "unet_segmenter") -> str:
    """The same steps as an nbformat v4 notebook (JSON text), markdown explaining each step."""
    runs = as_seg_runs(configs)
    return to_notebook(segmentation_cells(runs, name), name, _intro(runs))


def segmentation_bundle(configs: SegConfigs, name: str = "unet_segmenter") -> bytes:
    """Zip bytes: the script, the notebook, requirements.txt and a three-line README."""
    runs = as_seg_runs(configs)
    what = "a U-Net with and without skip connections" if len(runs) > 1 else "a segmenter"
    return zip_bundle(_file_stem(name), what, segmentation_script(runs, name), segmentation_notebook(runs, name))
