"""Training as a generator of records: (config, seed) -> records, nothing else."""
from __future__ import annotations

import contextlib
import math
import time
import warnings
from dataclasses import asdict, dataclass, replace
from typing import Any, Iterator

import pandas as pd
import torch
from torch import nn

from cnn_core.data import Dataset, load_dataset
from cnn_core.data.augment import augment_batch
from cnn_core.device import pick_device, seed_everything
from cnn_core.inspect.hooks import eval_mode
from cnn_core.models import ModelOptions, build_model
from cnn_core.models.init_schemes import apply_init
from cnn_core.models.cost import Estimate
from cnn_core.training.budget import check_run
from cnn_core.errors import CheckpointError, PlaygroundError
from cnn_core.serialization import from_jsonable
from cnn_core.training.checkpoints import Checkpoint, checkpoint_bytes
from cnn_core.training.config import Record, RegularizationConfig, RunStatus, TrainConfig, records_to_frame
from cnn_core.training.runs import DivergenceCheck
from cnn_core.training.losses import compute_loss
from cnn_core.training.optimizers import make_optimizer, make_scheduler


@torch.no_grad()
def predict_logits(model: nn.Module, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Logits of a model in eval mode (every submodule's mode restored afterwards), on CPU, N x K."""
    device = next(model.parameters()).device
    with eval_mode(model):
        outs = [model(images[i:i + batch_size].to(device)).cpu() for i in range(0, len(images), batch_size)]
    return torch.cat(outs) if outs else torch.empty(0)


def evaluate(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, loss: str = "cross-entropy",
             batch_size: int = 1000) -> tuple[float, float]:
    """(mean loss, accuracy) of a model on a split, in eval mode."""
    if len(labels) == 0:
        return math.nan, math.nan
    logits = predict_logits(model, images, batch_size)
    value = compute_loss(loss, logits, labels.cpu()).item()
    accuracy = (logits.argmax(dim=1) == labels.cpu()).float().mean().item()
    return value, accuracy


def model_options_for(config: TrainConfig, data: Dataset) -> ModelOptions:
    """The config's model options with input channels, size and classes taken from the dataset."""
    c, h, _ = data.image_shape
    return replace(config.model_options, in_channels=c, image_size=h, num_classes=data.num_classes)


def build_initialized_model(config: TrainConfig, data: Dataset) -> nn.Module:
    """Seed, build and initialize the config's model: the same seed gives the same weights."""
    seed_everything(config.seed)
    model = build_model(config.model, model_options_for(config, data))
    activation = config.model_options.activation or ("tanh" if config.model in ("lenet5-classic", "lenet5-1998")
                                                     else "relu")
    return apply_init(model, config.init, nonlinearity=activation)


def _penalty(model: nn.Module, reg: RegularizationConfig) -> torch.Tensor | None:
    # Explicit penalties on weights only (not biases or batch-norm parameters).
    if not (reg.l1 or reg.l2_penalty):
        return None
    weights = [p for name, p in model.named_parameters() if name.endswith("weight") and p.ndim > 1]
    total = torch.zeros((), device=weights[0].device)
    if reg.l1:
        total = total + reg.l1 * sum(w.abs().sum() for w in weights)
    if reg.l2_penalty:
        total = total + reg.l2_penalty * sum(w.pow(2).sum() for w in weights)
    return total


EPOCH_COPY_MAX_BYTES = 64 * 2**20  # gather a shuffled copy of the training split per epoch up to this size
_RANDOM_MODULES = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.FeatureAlphaDropout,
                   nn.RReLU)


def use_channels_last(model: nn.Module, sample: torch.Tensor, device: torch.device) -> bool:
    """Switch a CNN to channels_last on the CPU when its forward pass accepts it; True if it did.

    oneDNN's NHWC kernels (convolution, max-pooling, batch norm) train the playground's CNNs 1.1-1.6x faster
    than the default layout on the CPU (benchmarks/train_throughput.py); the numbers agree up to rounding. A
    model whose forward needs the default layout (``x.view(...)`` on a feature map) is put back unchanged.
    """
    if device.type != "cpu" or sample.dim() != 4 or not any(isinstance(m, nn.Conv2d) for m in model.modules()):
        return False
    model.to(memory_format=torch.channels_last)
    try:
        with torch.no_grad(), eval_mode(model):
            model(sample.to(device))
        return True
    except Exception:  # "view size is not compatible with ... stride"; a real error shows again in step 1
        model.to(memory_format=torch.contiguous_format)
        return False


@dataclass
class EpochState:
    """Where the epoch in progress stands: its batch order and how far it got (a Stop resumes from a copy)."""

    order: torch.Tensor                # this epoch's permutation of the training split
    epoch_x: torch.Tensor | None       # the split gathered in that order (None: gathered per batch)
    epoch_y: torch.Tensor | None
    first: int = 0                     # index in `order` of the next batch's first sample
    loss_sum: float = 0.0              # sum of batch loss x batch size over the epoch's steps so far
    correct_sum: float = 0.0           # sum of batch accuracy x batch size
    seen: int = 0                      # samples trained on in this epoch
    spent: float = 0.0                 # seconds this epoch ran before its last Stop


class TrainingRun:
    """A model, its optimizer and data; iterate `records()` to train, call it again to continue.

    All randomness (initial weights, batch order, dropout masks, augmentation) comes from the
    config's seed, and the run keeps its own RNG state, so runs interleaved in one process (a
    side-by-side comparison) give the same records as each run alone.
    """

    def __init__(self, config: TrainConfig, data: Dataset | None = None, model: nn.Module | None = None,
                 priced: Estimate | None = None) -> None:
        """`priced`: the price this run passed, alone (check_run) or in a comparison (check_runs), when the
        caller priced it already; without it the run prices itself."""
        config.validate()
        self.config = config
        self.device = pick_device(config.device)
        self.data = data if data is not None else load_dataset(config.dataset, per_class=config.per_class)
        # refused (BudgetExceeded) before the model is built
        self.estimate = priced if priced is not None else check_run(config, self.data)
        self.model = (model if model is not None else build_initialized_model(config, self.data)).to(self.device)
        self.channels_last = use_channels_last(self.model, self.data.train_x[:2], self.device)
        self.optimizer = make_optimizer(self.model.parameters(), config.optimizer)
        self._params = [p for p in self.model.parameters() if p.requires_grad]  # walked once, used every step
        self.steps_per_epoch = math.ceil(len(self.data.train_y) / config.batch_size)
        self._scheduled = config.schedule.name != "none" or config.schedule.warmup_steps > 0
        self.scheduler = make_scheduler(self.optimizer, config.schedule, config.epochs * self.steps_per_epoch)
        self._order = torch.Generator().manual_seed(config.seed)
        self._augment = torch.Generator().manual_seed(config.seed + 1)
        seed_everything(config.seed)
        self._rng_state = torch.get_rng_state()  # this run's own stream for dropout masks
        # Only a model that draws random numbers in its forward pass needs its stream swapped in each step:
        # torch's dropout-like layers, or any module from outside torch.nn and cnn_core (unknown: assume it does).
        self._stochastic = any(isinstance(m, _RANDOM_MODULES)
                               or not type(m).__module__.startswith(("torch.nn", "cnn_core"))
                               for m in self.model.modules())
        self.history: list[Record] = []
        self.epoch = 0  # finished epochs (an epoch stopped half-way is not counted until it is resumed and done)
        self._partial: EpochState | None = None  # the epoch a Stop interrupted (resumed by the next records())
        self._current: EpochState | None = None  # the epoch in progress
        self._clock = self._epoch_clock = 0.0  # perf_counter at the run's (resumed) start and the epoch's start
        self.step = 0
        self.status = RunStatus.READY
        self.best_val_loss = math.inf
        self.best_epoch = 0
        self._best_state: dict[str, torch.Tensor] | None = None
        self._bad_epochs = 0
        self._train_x = self.data.train_x.to(self.device)
        self._train_y = self.data.train_y.to(self.device)
        self._elapsed = 0.0
        self._divergence = DivergenceCheck(config.divergence_factor, config.divergence_loss)

    @property
    def stochastic(self) -> bool:
        """True when the model draws random numbers in its forward pass (dropout), from this run's own stream."""
        return self._stochastic

    def use_scheduler(self, scheduler: torch.optim.lr_scheduler.LRScheduler) -> None:
        """Replace the learning-rate schedule (e.g. the LR range test's ramp); stepped after every step."""
        self.scheduler = scheduler
        self._scheduled = True

    def _epoch_batches(self, order: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """The training split in this epoch's order, gathered once (batches become slices), when it is small."""
        nbytes = self._train_x.element_size() * self._train_x.nelement()
        if nbytes > EPOCH_COPY_MAX_BYTES:
            return None, None  # gather per batch instead: same numbers, no second copy of a large split
        return self._train_x[order], self._train_y[order]

    @contextlib.contextmanager
    def _own_rng(self) -> Iterator[None]:
        # Swap in this run's global-RNG state (used by dropout), swap it out afterwards.
        outer = torch.get_rng_state()
        torch.set_rng_state(self._rng_state)
        try:
            yield
        finally:
            self._rng_state = torch.get_rng_state()
            torch.set_rng_state(outer)

    def _train_step(self, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float, float] | None:
        """One optimizer step; returns (loss, accuracy, grad norm) or None if the loss diverged."""
        logits = self.model(x)  # N x K
        loss, total = self.loss_terms(logits, y)
        if self.diverges(total.item()):
            return None
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        return self.apply_gradients(logits, y, loss)

    def loss_terms(self, logits: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(data loss, data loss + weight penalties) of one batch's N x K logits."""
        cfg = self.config
        loss = compute_loss(cfg.loss, logits, y, cfg.regularization.label_smoothing)
        penalty = _penalty(self.model, cfg.regularization)
        return loss, (loss + penalty if penalty is not None else loss)

    def diverges(self, value: float) -> bool:
        """True when a step's total loss is NaN, infinite or far above the run's first loss (no step is taken)."""
        return self._divergence(value)

    def apply_gradients(self, logits: torch.Tensor, y: torch.Tensor,
                        loss: torch.Tensor) -> tuple[float, float, float]:
        """Clip (if asked), step the optimizer and schedule; returns (loss, accuracy, grad norm) of the batch."""
        grads = [p.grad for p in self._params if p.grad is not None]
        if self.config.max_grad_norm is not None:
            norm = torch.nn.utils.clip_grad_norm_(self._params, self.config.max_grad_norm)
        else:
            norm = torch.nn.utils.get_total_norm(grads)
        self.optimizer.step()
        if self._scheduled:  # a constant rate needs no scheduler step (it is the hot loop)
            self.scheduler.step()
        correct = (logits.detach().argmax(dim=1) == y).sum()
        loss_value, correct_value, norm_value = torch.stack([loss.detach(), correct.float(), norm.detach()]).tolist()
        return loss_value, correct_value / len(y), norm_value

    def records(self, epochs: int | None = None) -> Iterator[Record]:
        """Train for `epochs` more epochs (default: the config's), yielding step and epoch records."""
        if not self.start():
            return
        for _ in range(epochs or self.config.epochs):
            self.begin_epoch()
            while (batch := self.next_batch()) is not None:
                x, y = batch
                lr = self.optimizer.param_groups[0]["lr"]
                with self._own_rng() if self._stochastic else contextlib.nullcontext():
                    result = self._train_step(x, y)
                record = self.finish_step(result, lr, len(y))
                yield record
                if record.kind == "diverged":
                    return
            yield from self.end_epoch()
            if self.status == RunStatus.EARLY_STOPPED:
                return
        self.status = RunStatus.FINISHED

    # The phases of records(), also driven step by step by a batched ensemble (cnn_core.experiments.ensemble).

    def start(self) -> bool:
        """Mark the run running and start its clock; False if it already ended (diverged, early-stopped)."""
        if self.status in (RunStatus.DIVERGED, RunStatus.EARLY_STOPPED):
            return False
        self.status = RunStatus.RUNNING
        self._clock = time.perf_counter() - self._elapsed
        return True

    def begin_epoch(self) -> None:
        """Start the next epoch (a new batch order), or resume the one a Stop interrupted (same order)."""
        self.model.train()
        self._epoch_clock = time.perf_counter()
        if self._partial is not None:  # Stop came mid-epoch: continue it where it stopped (same batch order)
            self._current = self._partial
        else:
            order = torch.randperm(len(self._train_y), generator=self._order).to(self.device)
            epoch_x, epoch_y = self._epoch_batches(order)
            self._current = EpochState(order, epoch_x, epoch_y)

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The epoch's next (x, y) batch (augmented if the config says so), or None at the epoch's end."""
        state = self._current
        first = state.first
        if first >= len(state.order):
            return None
        size = self.config.batch_size
        if state.epoch_x is not None:  # contiguous views of this epoch's shuffled copy
            x, y = state.epoch_x[first:first + size], state.epoch_y[first:first + size]
        else:
            idx = state.order[first:first + size]
            x, y = self._train_x[idx], self._train_y[idx]  # N x C x H x W, N
        if self.config.regularization.augment.enabled():
            x = augment_batch(x.cpu(), self.config.regularization.augment, self._augment).to(self.device)
        return x, y

    def finish_step(self, result: tuple[float, float, float] | None, lr: float, size: int) -> Record:
        """The record of a step just taken (`result` from the step, None if it diverged), with the epoch's sums."""
        cfg = self.config
        self._elapsed = time.perf_counter() - self._clock
        if result is None:
            self.status = RunStatus.DIVERGED
            record = Record("diverged", self.epoch + 1, self.step, lr=lr, seconds=self._elapsed,
                            message=self._divergence.message(self.step))
            self.history.append(record)
            return record
        self.step += 1
        loss_value, accuracy, norm = result
        state = self._current
        state.first += cfg.batch_size
        state.loss_sum += loss_value * size
        state.correct_sum += accuracy * size
        state.seen += size
        # a copy with this session's time added: a Stop resumes here (the current state keeps the earlier time)
        self._partial = replace(state, spent=state.spent + time.perf_counter() - self._epoch_clock)
        record = Record("step", self.epoch + 1, self.step, train_loss=loss_value, train_acc=accuracy, lr=lr,
                        grad_norm=norm, seconds=self._elapsed)
        self.history.append(record)
        return record

    def end_epoch(self, val: tuple[float, float] | None = None) -> Iterator[Record]:
        """The epoch's record (validation loss and accuracy: `val`, or evaluated now), then early stopping's."""
        cfg = self.config
        val_loss, val_acc = val if val is not None else evaluate(self.model, self.data.val_x, self.data.val_y,
                                                                 cfg.loss)
        self._elapsed = time.perf_counter() - self._clock
        state = self._current
        self._partial = None
        self.epoch += 1
        record = Record("epoch", self.epoch, self.step, train_loss=state.loss_sum / state.seen,
                        train_acc=state.correct_sum / state.seen, val_loss=val_loss, val_acc=val_acc,
                        lr=self.optimizer.param_groups[0]["lr"], seconds=self._elapsed,
                        epoch_seconds=state.spent + time.perf_counter() - self._epoch_clock)
        self.history.append(record)
        yield record
        if self._early_stop_check(val_loss):
            self.model.load_state_dict(self._best_state)
            self.status = RunStatus.EARLY_STOPPED
            record = Record("early_stop", self.best_epoch, self.step, val_loss=self.best_val_loss,
                            seconds=self._elapsed,
                            message=f"Early stopping after epoch {self.epoch}: no improvement for "
                                    f"{cfg.regularization.early_stopping_patience} epochs; restored the weights "
                                    f"of epoch {self.best_epoch}.")
            self.history.append(record)
            yield record

    def _early_stop_check(self, val_loss: float) -> bool:
        """Track the best validation loss; True when patience has run out."""
        patience = self.config.regularization.early_stopping_patience
        if val_loss < self.best_val_loss - 1e-6:
            self.best_val_loss, self.best_epoch, self._bad_epochs = val_loss, self.epoch, 0
            if patience is not None:  # keep a copy of the best weights only when we may restore them
                self._best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
            return False
        self._bad_epochs += 1
        return patience is not None and self._bad_epochs >= patience

    def test_metrics(self) -> tuple[float, float]:
        """(loss, accuracy) on the held-out test split."""
        return evaluate(self.model, self.data.test_x, self.data.test_y, self.config.loss)

    def checkpoint(self, metrics: dict[str, Any] | None = None) -> bytes:
        """Weights, config, metrics and epoch history as checkpoint bytes (load_checkpoint / restore_run read them)."""
        history = [asdict(r) for r in self.history if r.kind != "step"]
        meta = {"epochs": self.epoch, "steps": self.step, "status": self.status, **(metrics or {}), "history": history}
        return checkpoint_bytes(self.model, self.config.model, model_options_for(self.config, self.data),
                                config=self.config, metrics=meta, class_names=self.data.class_names,
                                input_shape=self.data.image_shape)

    def frame(self, run: str | None = None) -> pd.DataFrame:
        """This run's history as a tidy frame."""
        return records_to_frame(self.history, run or self.config.optimizer.label())


def train(config: TrainConfig, data: Dataset | None = None, model: nn.Module | None = None) -> Iterator[Record]:
    """Train a fresh run of `config`, yielding its records (see TrainingRun for the model)."""
    return TrainingRun(config, data, model).records()


def restore_run(checkpoint: Checkpoint, data: Any = None) -> Any:
    """A TrainingRun that continues a checkpoint: its model, config, epoch/step counters and epoch history.

    The optimizer's running state (momentum, Adam averages) is not in a checkpoint: it starts afresh;
    the learning-rate schedule resumes at the saved step.
    """
    try:
        config = from_jsonable(TrainConfig, checkpoint.config)
    except PlaygroundError as exc:
        raise CheckpointError(f"The checkpoint's training config cannot be restored: {exc}") from exc
    if config.model != checkpoint.model_name:
        raise CheckpointError(f"The checkpoint's config trains '{config.model}' but its weights are "
                              f"'{checkpoint.model_name}'.")
    run = TrainingRun(config, data, model=checkpoint.model)
    if checkpoint.input_shape and tuple(checkpoint.input_shape) != tuple(run.data.image_shape):
        raise CheckpointError(f"The checkpoint expects {tuple(checkpoint.input_shape)} images, the dataset "
                              f"'{config.dataset}' has {tuple(run.data.image_shape)}.")
    try:
        run.history = [Record(**r) for r in checkpoint.metrics.get("history", [])]
        run.epoch = int(checkpoint.metrics.get("epochs", 0))
        run.step = int(checkpoint.metrics.get("steps", 0))
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"The checkpoint's training history is damaged: {exc}") from exc
    val_losses = [(r.val_loss, r.epoch) for r in run.history if r.kind == "epoch" and r.val_loss == r.val_loss]
    if val_losses:
        run.best_val_loss, run.best_epoch = min(val_losses)
    if run.step > 0:
        with warnings.catch_warnings():  # "scheduler.step() before optimizer.step()": intended here
            warnings.simplefilter("ignore")
            run.scheduler.last_epoch = run.step - 1
            run.scheduler.step()
    return run
