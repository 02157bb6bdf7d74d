"""The Train page's other tabs (loss functions, sanity checks, TensorBoard) and its checkpoints (save / restore)."""
from __future__ import annotations

import copy
import hashlib
import math

import pandas as pd
import streamlit as st

from cnn_core import (DATASETS, LOSSES, MODELS, Checkpoint, PlaygroundError, TrainConfig, TrainingRun, epoch_records,
                      load_checkpoint, load_weights_into)
from cnn_core.experiments.sanity import gradient_norms_check, initial_loss_check, overfit_batch_check
from cnn_core.teaching.loss_explainer import loss_curves
from cnn_core.training.checkpoints import run_checkpoint_bytes
from cnn_core.training.loop import restore_run
from cnn_core.training.evaluation import evaluate_split
from cnn_core.training.tensorboard import runs_dir, tensorboard_command

from pages.common.charts import training as charts
from pages.common.errors import friendly_errors
from pages.common.live import admitted
from pages.common.session_keys import SESSION_CHECKPOINTS
from pages.common.state import get_dataset
from pages.train.setup import LOG_DIR, PUBLISHED, RUN, SANITY, SNAPSHOT, UPLOADED
from pages.common.widgets import checkpoint_upload_mb
from pages.common.formulas import show_formula


# ------------------------------------------------------------------------------------------- checkpoints
def snapshot(run: TrainingRun) -> dict:
    """Checkpoint bytes and test evaluation of the run as it is now (cached until it trains again)."""
    key = (id(run), run.step, run.status)
    snap = st.session_state.get(SNAPSHOT)
    if snap is None or snap["key"] != key:
        evaluation = evaluate_split(run.model, run.data, "test")
        epochs = epoch_records(run.history)
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


def decoded_upload(raw: bytes) -> Checkpoint:
    """The uploaded checkpoint, decoded once per session and file (by its SHA-256), not on every rerun.

    A refused file is remembered too (its message is raised again), so it is not decoded again either.
    """
    digest = hashlib.sha256(raw).hexdigest()
    cached = st.session_state.get(UPLOADED)
    if cached is None or cached[0] != digest:
        try:
            cached = (digest, load_checkpoint(raw), None)
        except PlaygroundError as exc:
            exc.__traceback__ = exc.__cause__ = exc.__context__ = None  # keep no frames (nor the bytes) alive
            cached = (digest, None, exc)
        st.session_state[UPLOADED] = cached
    if cached[2] is not None:
        raise cached[2]
    return cached[1]


def upload_section(config: TrainConfig | None) -> None:
    """Upload a checkpoint to continue training it, warm-start the sidebar's model, or visualize it."""
    st.markdown("**Restore**: upload a checkpoint. A file of another architecture, a corrupt or empty file, or a "
                "pickle that tries to run code is refused with a message.")
    uploaded = st.file_uploader("Upload a checkpoint", key="tr_upload", max_upload_size=checkpoint_upload_mb(), type=["pt", "pth", "ckpt"],
                                help="A .pt file downloaded from this page.")
    if uploaded is None:
        return
    with friendly_errors("Reading the checkpoint"):
        raw = uploaded.getvalue()
        checkpoint = decoded_upload(raw)
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
            restored = restore_run(copy.deepcopy(checkpoint), get_dataset(dataset, saved.get("per_class")))
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
                show_formula(spec.formula)


@st.fragment  # a check's button reruns this tab only, not the whole page
def sanity_tab(config: TrainConfig | None) -> None:
    """Three one-click checks of good practice on the sidebar's setup (each waits for an admission slot)."""
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
                with friendly_errors("The check"), admitted("Sanity check"):
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
