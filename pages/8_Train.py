"""Train a CNN end to end: live curves, loss functions, sanity checks, TensorBoard, checkpoints."""
import math
import time
from dataclasses import replace

import pandas as pd
import streamlit as st

from cnn_core import (DATASETS, INIT_SCHEMES, LOSSES, MODELS, OPTIMIZERS, SCHEDULES, AugmentConfig, ModelOptions,
                      OptimizerConfig, RegularizationConfig, ScheduleConfig, TrainConfig, TrainingRun,
                      load_checkpoint, load_weights_into)
from cnn_core.training.checkpoints import restore_run, run_checkpoint_bytes
from cnn_core.training.evaluation import display_images, evaluate_split
from cnn_core.teaching.loss_explainer import loss_curves
from cnn_core.models import output_shapes
from cnn_core.experiments.sanity import gradient_norms_check, initial_loss_check, overfit_batch_check
from cnn_core.training.tensorboard import TensorBoardLogger, logged, run_name, runs_dir, tensorboard_command
from pages.common import train_charts as charts
from pages.common.errors import friendly_errors
from pages.common.session_keys import CUSTOM_ARCHITECTURE, SESSION_CHECKPOINTS
from pages.common.state import get_dataset, training_slots

st.set_page_config(page_title="Train your network", page_icon="🏋️", layout="wide")
RUN, LOG_DIR, SNAPSHOT, SANITY, PUBLISHED = "train_run", "train_log_dir", "train_snapshot", "train_sanity", "train_pub"
CUSTOM = "custom-session"

st.title("🏋️ Train your network")
st.markdown(
    "The lecture's last practical sections as one workflow: pick a **loss function**, run the **sanity checks** "
    "of good practice, **train** with live curves, read the confusion matrix and the mistakes, log to "
    "**TensorBoard**, and **save / restore** the weights. Everything is set up in the sidebar; every run is "
    "seeded, so the same settings give the same curves."
)


# ----------------------------------------------------------------------------------------- setup (sidebar)
def setup() -> TrainConfig | None:
    """The sidebar's widgets as one TrainConfig (None, with a message, when it cannot train)."""
    sb = st.sidebar
    sb.header("Setup")
    dataset = sb.selectbox("Dataset", list(DATASETS), format_func=lambda k: DATASETS[k].label, key="tr_dataset")
    per_class = sb.number_input("Training images per class (0 = all)", 0, 6000, 0, step=50, key="tr_per_class",
                                help="A smaller subset trains faster (mnist-5k has 400 per class).")
    models = [k for k, spec in MODELS.items() if spec.fixed_input is None and k != "custom"]
    custom = st.session_state.get(CUSTOM_ARCHITECTURE)
    if custom is not None:
        models.append(CUSTOM)
    model = sb.selectbox("Model", models, key="tr_model",
                         format_func=lambda k: "Custom (from the Architecture page)" if k == CUSTOM
                         else MODELS[k].label)
    sb.caption(MODELS["custom" if model == CUSTOM else model].explanation)
    options = ModelOptions()
    if model in ("plain-cnn", "deep-mlp"):
        options = replace(options, depth=sb.slider("Hidden layers", 1, 20, 6, key="tr_depth"))
    init = sb.selectbox("Weight initialization", list(INIT_SCHEMES), key="tr_init",
                        format_func=lambda k: INIT_SCHEMES[k].label)
    loss = sb.selectbox("Loss function", list(LOSSES), key="tr_loss", format_func=lambda k: LOSSES[k].label,
                        help="See the 'Loss functions' tab: the chosen loss is the one training minimizes.")
    opt = sb.selectbox("Optimizer", list(OPTIMIZERS), index=list(OPTIMIZERS).index("adam"), key="tr_optimizer",
                       format_func=lambda k: OPTIMIZERS[k].label)
    lr = sb.number_input("Learning rate", 1e-6, 10.0, float(OPTIMIZERS[opt].defaults["lr"]), format="%.6f",
                         key=f"tr_lr_{opt}", help="Each optimizer starts at its own usual rate.")
    weight_decay = sb.number_input("Weight decay (L2 via the optimizer)", 0.0, 1.0, 0.0, format="%.5f",
                                   key="tr_wd")
    schedule = sb.selectbox("Learning-rate schedule", list(SCHEDULES), key="tr_schedule",
                            format_func=lambda k: SCHEDULES[k].label)
    with sb.expander("Regularization"):
        dropout = st.slider("Dropout in the classifier", 0.0, 0.8, 0.0, 0.05, key="tr_dropout",
                            disabled=model == CUSTOM)
        batch_norm = st.checkbox("Batch normalization", key="tr_bn", disabled=model == CUSTOM)
        l2 = st.number_input("L2 penalty in the loss", 0.0, 0.1, 0.0, format="%.5f", key="tr_l2")
        smoothing = st.slider("Label smoothing", 0.0, 0.5, 0.0, 0.05, key="tr_smoothing",
                              help="Used by the cross-entropy loss (the 'label smoothing' loss uses 0.1 if 0).")
        shift = st.slider("Augment: random shift (pixels)", 0, 4, 0, key="tr_shift")
        rotate = st.slider("Augment: random rotation (degrees)", 0, 30, 0, key="tr_rotate")
        patience = st.number_input("Early stopping patience (epochs, 0 = off)", 0, 20, 0, key="tr_patience")
    batch_size = sb.select_slider("Batch size", [8, 16, 32, 64, 128, 256, 512], 64, key="tr_batch")
    epochs = sb.slider("Epochs", 1, 50, 3, key="tr_epochs")
    seed = sb.number_input("Seed", 0, 2**31 - 1, 0, key="tr_seed")
    sb.checkbox("Write a TensorBoard log", key="tr_tensorboard",
                help=f"Each run writes scalars, histograms, images, the graph and hyper-parameters to {runs_dir()}.")
    if model == CUSTOM:
        specs, shape = custom
        expected = DATASETS[dataset]
        data = get_dataset(dataset, per_class or None)
        if tuple(shape) != tuple(data.image_shape):
            st.error(f"The network from the Architecture page takes {'x'.join(map(str, shape))} inputs, but "
                     f"{expected.label} images are {'x'.join(map(str, data.image_shape))}. Pick a matching dataset "
                     "or rebuild the network with that input shape.")
            return None
        out = output_shapes(specs, shape)[-1]
        if tuple(out) != (data.num_classes,):
            st.error(f"The network from the Architecture page ends with shape {out}; it must end in "
                     f"{data.num_classes} outputs (one per class), e.g. a final Linear layer with "
                     f"{data.num_classes} units.")
            return None
        options, model = ModelOptions(layers=tuple(specs)), "custom"
    else:
        options = replace(options, dropout=dropout, batch_norm=batch_norm)
    return TrainConfig(
        dataset=dataset, per_class=per_class or None, model=model, model_options=options, init=init,
        optimizer=OptimizerConfig(opt, lr=lr, weight_decay=weight_decay), schedule=ScheduleConfig(name=schedule),
        loss=loss, batch_size=batch_size, epochs=epochs, seed=int(seed),
        regularization=RegularizationConfig(l2_penalty=l2, label_smoothing=smoothing,
                                            early_stopping_patience=patience or None,
                                            augment=AugmentConfig(shift=shift, rotate=float(rotate))))


# ------------------------------------------------------------------------------------------- training
def train_live(run: TrainingRun, epochs: int, log_dir: str | None) -> None:
    """Iterate the run's records with a progress bar, live curves and a Stop button."""
    stop_box, status = st.empty(), st.empty()
    stop_box.button("⏹ Stop", key="tr_stop", help="Stop now: the weights and the curves so far are kept.")
    slots = training_slots()
    while not slots.acquire(timeout=0.5):
        status.info("Queued: the server is busy with other students' trainings; yours starts when one ends.")
    try:
        status.empty()
        progress, chart = st.progress(0.0, text="Training..."), st.empty()
        first, total, target = run.step, run.steps_per_epoch * epochs, run.epoch + epochs
        logger = TensorBoardLogger(run, log_dir) if log_dir else None
        try:
            records = logged(run.records(epochs), logger) if logger else run.records(epochs)
            last_text = last_chart = 0.0
            started = time.perf_counter()
            for record in records:
                now = time.perf_counter()
                if record.kind == "step" and now - last_text < 0.3:
                    continue
                last_text = now
                done = run.step - first
                per_step = (now - started) / max(done, 1)
                progress.progress(min(done / max(total, 1), 1.0),
                                  text=f"Epoch {record.epoch} of {target} · step {run.step} · "
                                       f"{per_step * run.steps_per_epoch:.2f} s per epoch · "
                                       f"about {per_step * (total - done):.0f} s left")
                if record.kind != "step" or now - last_chart > 1.0:
                    last_chart = now
                    draw_curves(chart.container(), run)
        finally:
            if logger:
                logger.close()
        stop_box.empty()
        progress.empty()
        chart.empty()
    finally:
        slots.release()


def draw_curves(box, run: TrainingRun) -> None:
    """The run's step loss and per-epoch loss / accuracy side by side."""
    columns = box.columns(3)
    step_chart, loss_chart, accuracy_chart = charts.live_curves(run.frame("run"))
    columns[0].altair_chart(step_chart, width="stretch")
    if any(r.kind == "epoch" for r in run.history):
        columns[1].altair_chart(loss_chart, width="stretch")
        columns[2].altair_chart(accuracy_chart, width="stretch")
    else:
        columns[1].caption("Training and validation curves per epoch appear when the first epoch ends.")


def snapshot(run: TrainingRun) -> dict:
    """Checkpoint bytes and test evaluation of the run as it is now (cached until it trains again)."""
    key = (id(run), run.step, run.status)
    snap = st.session_state.get(SNAPSHOT)
    if snap is None or snap["key"] != key:
        evaluation = evaluate_split(run.model, run.data, "test")
        epochs = [r for r in run.history if r.kind == "epoch"]
        metrics = {"test_accuracy": evaluation.accuracy,
                   "val_accuracy": epochs[-1].val_acc if epochs else float("nan")}
        name = (f"Train page: {MODELS[run.config.model].label.split(' (')[0]} on {run.config.dataset}, "
                f"{len(epochs)} epoch(s), test acc {evaluation.accuracy:.1%}")
        snap = {"key": key, "evaluation": evaluation, "bytes": run_checkpoint_bytes(run, metrics), "name": name}
        st.session_state[SNAPSHOT] = snap
        publish(id(run), name, snap["bytes"])
    return snap


def publish(run_id: int, name: str, data: bytes, keep: int = 5) -> None:
    """Offer the run's checkpoint to the Layer Visualization page (one entry per run, the last `keep` runs)."""
    shared = st.session_state.setdefault(SESSION_CHECKPOINTS, {})
    mine: list = st.session_state.setdefault(PUBLISHED, [])  # [(run id, name)], oldest first
    for entry in [e for e in mine if e[0] == run_id]:
        shared.pop(entry[1], None)
        mine.remove(entry)
    mine.append((run_id, name))
    shared[name] = data
    while len(mine) > keep:
        shared.pop(mine.pop(0)[1], None)


def show_results(run: TrainingRun) -> None:
    """Status, curves, confusion matrix, per-class accuracy and the mistakes of the session's run."""
    if run.status == "running":  # the script was interrupted mid-run by Stop (or another widget)
        run.status = "stopped"
    last = run.history[-1] if run.history else None
    epochs = [r for r in run.history if r.kind == "epoch"]
    if run.status == "stopped":
        st.warning(f"Stopped after {run.step} steps; the weights and curves so far are kept. "
                   "Continue training resumes from here.")
    elif last is not None and last.kind in ("diverged", "early_stop"):
        (st.error if last.kind == "diverged" else st.info)(last.message)
    snap = snapshot(run)
    evaluation = snap["evaluation"]
    cols = st.columns(5)
    cols[0].metric("Epochs trained", len(epochs), help="Completed epochs (a stopped epoch does not count).")
    cols[1].metric("Validation accuracy", f"{epochs[-1].val_acc:.1%}" if epochs else "–")
    cols[2].metric("Best validation accuracy", f"{max(r.val_acc for r in epochs):.1%}" if epochs else "–")
    cols[3].metric("Test accuracy", f"{evaluation.accuracy:.1%}")
    seconds = [r.epoch_seconds for r in epochs if r.epoch_seconds == r.epoch_seconds]
    cols[4].metric("Time per epoch", f"{sum(seconds) / len(seconds):.2f} s" if seconds else "–")
    draw_curves(st, run)
    if epochs:
        with st.expander("Epoch table"):
            st.dataframe(pd.DataFrame([{"epoch": r.epoch, "train loss": r.train_loss, "val loss": r.val_loss,
                                        "train acc": r.train_acc, "val acc": r.val_acc, "lr": r.lr,
                                        "seconds": r.epoch_seconds} for r in epochs]), hide_index=True)
    left, right = st.columns([3, 2])
    left.altair_chart(charts.confusion_heatmap(evaluation.confusion()), width="stretch")
    right.altair_chart(charts.per_class_bars(evaluation.per_class()), width="stretch")
    mistakes = evaluation.mistakes(limit=16)
    st.subheader(f"Misclassified test images ({int((evaluation.predictions != evaluation.labels).sum())} "
                 f"of {len(evaluation.labels)}), most confident first")
    if mistakes.empty:
        st.success("No test image is misclassified.")
    else:
        images = display_images(run.data, run.data.test_x[list(mistakes["index"])])
        captions = [f"true {t} → {p} ({q:.0%})" for t, p, q in
                    zip(mistakes["true"], mistakes["predicted"], mistakes["p_predicted"])]
        st.image(images, caption=captions, width=84)


def train_tab(config: TrainConfig | None) -> None:
    """Train / continue buttons, the live training, and the results of the session's run."""
    run: TrainingRun | None = st.session_state.get(RUN)
    a, b, c = st.columns([1, 1, 2])
    start = a.button("▶ Train", type="primary", key="tr_train", disabled=config is None,
                     help="Start a new run with the sidebar's settings.")
    more = c.number_input("More epochs for 'Continue'", 1, 50, 1, key="tr_more")
    resume = b.button("⏩ Continue training", key="tr_continue", disabled=run is None,
                      help="Train the current run for more epochs, from its current weights.")
    if run is not None and config is not None and run.config != config:
        st.caption("The sidebar differs from the current run's settings: Continue keeps the run's own settings, "
                   "Train starts a new run with the sidebar's.")
    trained = False
    with friendly_errors("Training"):
        if start:
            data = get_dataset(config.dataset, config.per_class)
            run = TrainingRun(config, data)
            st.session_state[RUN] = run
            st.session_state[LOG_DIR] = (str(runs_dir() / run_name(config))
                                         if st.session_state.get("tr_tensorboard") else None)
            train_live(run, config.epochs, st.session_state[LOG_DIR])
            trained = True
        elif resume and run is not None:
            if run.status in ("diverged", "early_stopped"):
                st.warning(f"This run has {run.status.replace('_', ' ')}: start a new one with Train.")
            else:
                train_live(run, int(more), st.session_state.get(LOG_DIR))
                trained = True
    if trained:
        st.rerun()  # redraw from the top: buttons above (Continue) and the download reflect the new weights
    if run is None:
        st.info("Press **Train** to train the model set up in the sidebar (default: LeNet-5 on 4,000 MNIST digits, "
                "3 epochs, a few seconds).")
        return
    with friendly_errors("Showing the results"):
        show_results(run)


# ------------------------------------------------------------------------------------------- other tabs
@st.cache_data(max_entries=16)
def cached_curves(num_classes: int, smoothing: float) -> pd.DataFrame:
    """The explainer's curves (pure function of its arguments)."""
    return loss_curves(num_classes=num_classes, label_smoothing=smoothing)


def loss_tab(config: TrainConfig | None) -> None:
    """Every loss against the probability of the true class, with formulas."""
    chosen = st.session_state.get("tr_loss", "cross-entropy")
    k = len(DATASETS[st.session_state.get("tr_dataset", "mnist-5k")].class_names)
    st.markdown(f"A classifier outputs K = {k} logits z; softmax turns them into probabilities. Each curve is "
                "computed by the real loss function of one sample whose true class gets probability p (the rest "
                "shared evenly). The thick line is the loss chosen in the sidebar: training minimizes it.")
    curves = cached_curves(k, st.session_state.get("tr_smoothing", 0.0))
    for column, chart in zip(st.columns(2), charts.loss_explainer_charts(curves, chosen)):
        column.altair_chart(chart, width="stretch")
    st.caption("Right: how hard each loss pushes the true logit up (negative = up). Cross-entropy pushes hardest "
               "when the model is confidently wrong (p near 0); MSE on softmax barely pushes there: its gradient "
               "vanishes. NLL of log-softmax (dashed) is the same curve as cross-entropy.")
    for key, spec in LOSSES.items():
        with st.container(border=True):
            left, right = st.columns([2, 3], vertical_alignment="center")
            left.markdown(f"**{spec.label}**" + (" ← used for training" if key == chosen else ""))
            left.caption(spec.explanation)
            with right:
                st.latex(spec.formula)


def sanity_tab(config: TrainConfig | None) -> None:
    """Three one-click checks of good practice on the sidebar's setup."""
    st.markdown("Before a long run, check that the setup is sane. Each check uses a fresh model with the "
                "sidebar's settings (try *All zeros* initialization or a huge learning rate to see them fail).")
    if config is None:
        return
    results = st.session_state.setdefault(SANITY, {})
    checks = [("init", "1. Initial loss ≈ ln(K)", initial_loss_check,
               "A fresh classifier should be unsure: the loss of a uniform guess, ln(10) = 2.3026 for 10 classes."),
              ("overfit", "2. Overfit one batch", overfit_batch_check,
               "20 images, no regularization: the loss must fall to (near) its minimum within 150 steps."),
              ("grads", "3. Gradients reach every layer", gradient_norms_check,
               "After one backward pass every layer with weights must have a nonzero, finite gradient.")]
    for key, title, check, explanation in checks:
        with st.container(border=True):
            st.markdown(f"**{title}**")
            st.caption(explanation)
            if st.button("Run check", key=f"tr_check_{key}"):
                with friendly_errors("The check"):
                    results[key] = (config, check(config, get_dataset(config.dataset, config.per_class)))
            if key in results:
                checked, result = results[key]
                (st.success if result.passed else st.error)(result.message)
                if checked != config:
                    st.caption("The sidebar changed since this check ran.")
                if key == "overfit" and result.frame is not None:
                    st.altair_chart(charts.overfit_curve(result.frame, result.values["target_loss"]), width="stretch")
                if key == "grads" and result.frame is not None:
                    st.altair_chart(charts.gradient_bars(result.frame), width="stretch")


def tensorboard_tab() -> None:
    """Where the logs go and how to open them."""
    folder = runs_dir()
    st.markdown("TensorBoard is PyTorch's dashboard for training runs (`torch.utils.tensorboard.SummaryWriter`). "
                "Tick **Write a TensorBoard log** in the sidebar, train, then start TensorBoard in a terminal:")
    st.code(tensorboard_command(folder), language="bash")
    st.markdown(f"Runs folder: `{folder}` (set the environment variable `CNN_PLAYGROUND_RUNS` to change it). "
                "Each run writes: scalars per step and per epoch (Scalars tab), weight and gradient histograms per "
                "epoch (Histograms / Distributions), 16 training images (Images), the network (Graphs), and the "
                "hyper-parameters with the final metrics (HParams).")
    current = st.session_state.get(LOG_DIR)
    if current:
        st.success(f"The current run logs to `{current}`.")
    if folder.is_dir():
        runs = sorted((p for p in folder.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True)
        if runs:
            st.dataframe(pd.DataFrame([{"run": p.name, "files": len(list(p.iterdir())),
                                        "kB": round(sum(f.stat().st_size for f in p.iterdir()) / 1024, 1)}
                                       for p in runs[:10]]), hide_index=True)


def download_section() -> None:
    """The download button of the session's run (drawn after training, so it holds the latest weights)."""
    snap = st.session_state.get(SNAPSHOT)
    run = st.session_state.get(RUN)
    if snap is not None and run is not None and snap["key"][0] == id(run):
        completed = sum(r.kind == "epoch" for r in run.history)
        st.download_button("⬇️ Download checkpoint (.pt)", data=snap["bytes"], key="tr_download",
                           file_name=f"{run.config.model}-{run.config.dataset}-epoch{completed}.pt",
                           mime="application/octet-stream", on_click="ignore")
        st.caption(f"{len(snap['bytes']) / 1024:.0f} kB · {snap['name']} (also offered on the Layer "
                   "Visualization page).")
    else:
        st.info("Train a model first; its checkpoint can then be downloaded here.")


def upload_section(config: TrainConfig | None) -> None:
    """Upload a checkpoint to continue training it, warm-start the sidebar's model, or visualize it."""
    st.markdown("**Restore**: upload a checkpoint. A file of another architecture, a corrupt or empty file, or a "
                "pickle that tries to run code is refused with a message.")
    uploaded = st.file_uploader("Upload a checkpoint", key="tr_upload", type=["pt", "pth", "ckpt"],
                                help="A .pt file downloaded from this page.")
    if uploaded is None:
        return
    with friendly_errors("Reading the checkpoint"):
        raw = uploaded.getvalue()
        checkpoint = load_checkpoint(raw)
        saved = checkpoint.config
        epochs, accuracy = checkpoint.metrics.get("epochs"), checkpoint.metrics.get("test_accuracy")
        st.success(f"Checkpoint of **{MODELS[checkpoint.model_name].label}**, "
                   + (f"dataset `{saved['dataset']}`, " if saved.get("dataset") else "dataset unknown, ")
                   + (f"{epochs} epoch(s), " if isinstance(epochs, int) else "epochs unknown, ")
                   + (f"test accuracy {accuracy:.1%}." if isinstance(accuracy, (int, float))
                      and math.isfinite(accuracy) else "test accuracy unknown (saved without a training run)."))
        a, b, c = st.columns(3)
        if a.button("Continue training from it", key="tr_restore",
                    help="Restores the model and its training config; then press Continue training."):
            dataset = saved.get("dataset", "mnist-5k")
            restored = restore_run(checkpoint, get_dataset(dataset, saved.get("per_class")))
            st.session_state[RUN], st.session_state[LOG_DIR] = restored, None
            st.success(f"Restored at epoch {restored.epoch}. Open the **Train** tab and press **Continue training**.")
        if b.button("Use on the Layer Visualization page", key="tr_to_layers"):
            name = f"Uploaded: {uploaded.name}"
            st.session_state.setdefault(SESSION_CHECKPOINTS, {})[name] = raw
            st.success(f"Added as '{name}': pick it on the Layer Visualization page.")
        if c.button("Warm-start the sidebar's model", key="tr_warm", disabled=config is None,
                    help="A warm start: the sidebar's architecture must match the checkpoint's."):
            fresh = TrainingRun(config, get_dataset(config.dataset, config.per_class))
            load_weights_into(fresh.model, raw)
            st.session_state[RUN], st.session_state[LOG_DIR] = fresh, None
            st.success("Weights loaded into a new run with the sidebar's settings: press Continue training.")


config = None
with friendly_errors("The setup"):
    config = setup()
TAB_NAMES = ["🏋️ Train", "📉 Loss functions", "✅ Sanity checks", "📊 TensorBoard", "💾 Save / restore"]
train, losses, sanity, board, save = st.tabs(TAB_NAMES)
with save:  # upload first, so a restored run is what the Train tab shows in the same rerun
    st.markdown("A checkpoint holds the weights (`state_dict`), the training config and the metrics. It is "
                "loaded with `torch.load(..., weights_only=True)`, which refuses any pickled Python code.")
    download_box = st.container()
    st.divider()
    upload_section(config)
with train:
    train_tab(config)
with losses:
    loss_tab(config)
with sanity:
    sanity_tab(config)
with board:
    tensorboard_tab()
with download_box:
    download_section()
