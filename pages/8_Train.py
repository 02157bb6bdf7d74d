"""Train a CNN end to end: live curves, loss functions, sanity checks, TensorBoard, checkpoints."""
from typing import Callable, Iterator

import pandas as pd
import streamlit as st

from cnn_core import Dataset, Record, RunStatus, TrainConfig, TrainingRun, epoch_records, summarize_run
from cnn_core.models.cost import Estimate
from cnn_core.training.budget import check_run
from cnn_core.training.evaluation import display_images
from cnn_core.training.tensorboard import TensorBoardLogger, logged, run_name
from pages.common import lessons, links
from pages.common.charts import training as charts
from pages.common.errors import friendly_errors
from pages.common.wording import plural
from pages.common.phone import sidebar_settings_hint
from pages.common.export_buttons import export_downloads
from pages.common.live import drawn_in_turns, run_live
from pages.common.classroom.publish import publish_run
from pages.common.state import get_dataset
from pages.train.tensorboard import session_log_dir, tensorboard_tab as session_tensorboard_tab
from pages.train.tabs import download_section, loss_tab, sanity_tab, snapshot, upload_section
from pages.train.setup import LOG_DIR, RUN, setup

ui = links.bound(st)  # widgets drawn through `ui` with a key live in the address bar (lesson links)


# ------------------------------------------------------------------------------------------- training
def train_live(start: Callable[[], TrainingRun], epochs: int, log_dir: str | None) -> bool:
    """Train `epochs` more epochs of the run `start()` returns, live (progress, curves, Stop); False when the
    time limit stopped it. `start` is called once admitted, so no model is built while waiting in the queue."""
    live: dict = {}

    def records() -> Iterator[Record]:
        run = start()
        live.update(run=run, first=run.step, total=max(run.steps_per_epoch * epochs, 1), target=run.epoch + epochs,
                    before=run.history[-1].seconds if run.history else 0.0)  # records count seconds since it began
        logger = TensorBoardLogger(run, log_dir) if log_dir else None
        try:
            yield from (logged(run.records(epochs), logger) if logger else run.records(epochs))
        finally:
            if logger:
                logger.close()

    def progress(record: Record) -> tuple[float, str]:
        run, done = live["run"], live["run"].step - live["first"]
        per_step = (record.seconds - live["before"]) / max(done, 1)
        return done / live["total"], (f"Epoch {record.epoch} of {live['target']} · step {run.step} · "
                                      f"{per_step * run.steps_per_epoch:.2f} s per epoch · "
                                      f"about {per_step * (live['total'] - done):.0f} s left")

    outcome = run_live(records(), "tr", progress=progress, label="Training",
                       draw=lambda _, box: draw_curves(box.container(), live["run"]),
                       urgent=lambda record: record.kind != "step",
                       stop_help="Stop now: the weights and the curves so far are kept.")
    return not outcome.timed_out


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


def show_results(run: TrainingRun) -> None:
    """Status, curves, confusion matrix, per-class accuracy and the mistakes of the session's run."""
    if run.status == RunStatus.RUNNING:  # the script was interrupted mid-run by Stop (or another widget)
        run.status = RunStatus.STOPPED
    last = run.history[-1] if run.history else None
    epochs = epoch_records(run.history)
    summary = summarize_run(run.history)
    if run.status == RunStatus.STOPPED:
        st.warning(f"Stopped after {plural(run.step, 'step')}; the weights and curves so far are kept. "
                   "Continue training resumes from here.")
    elif last is not None and last.kind in ("diverged", "early_stop"):
        (st.error if last.kind == "diverged" else st.info)(last.message)
    snap = snapshot(run)
    evaluation = snap["evaluation"]
    cols = ui.columns(5)
    cols[0].metric("Epochs trained", summary.epochs, help="Completed epochs (a stopped epoch does not count).")
    cols[1].metric("Validation accuracy", f"{summary.final_val_acc:.1%}" if epochs else "–")
    cols[2].metric("Best validation accuracy", f"{summary.best_val_acc:.1%}" if epochs else "–")
    cols[3].metric("Test accuracy", f"{evaluation.accuracy:.1%}")
    seconds = [r.epoch_seconds for r in epochs if r.epoch_seconds == r.epoch_seconds]
    cols[4].metric("Time per epoch", f"{sum(seconds) / len(seconds):.2f} s" if seconds else "–")
    if epochs:  # why validation and test disagree: different images, each measured with sampling noise
        n_val, n_test = run.data.sizes()["val"], run.data.sizes()["test"]
        se_val, se_test = ((max(p * (1 - p), 1e-4) / n) ** 0.5 for n, p in ((n_val, summary.final_val_acc),
                                                                             (n_test, evaluation.accuracy)))
        st.caption(f"Validation ({n_val:,} images) and test ({n_test:,} images) are different images: one image is "
                   f"{100 / n_val:.1f} pp of the validation accuracy, each accuracy is uncertain by about "
                   f"±{100 * se_val:.1f} / ±{100 * se_test:.1f} pp (one standard error, √(p(1−p)/n)), so "
                   f"the two differ by up to ~{196 * (se_val ** 2 + se_test ** 2) ** 0.5:.1f} pp by chance "
                   "alone (95 %); a larger gap means one set is harder than the other.")
    draw_curves(ui, run)
    if epochs:
        with ui.expander("Epoch table"):
            st.dataframe(pd.DataFrame([{"epoch": r.epoch, "train loss": r.train_loss, "val loss": r.val_loss,
                                        "train acc": r.train_acc, "val acc": r.val_acc, "lr": r.lr,
                                        "seconds": r.epoch_seconds} for r in epochs]), hide_index=True)
    left, right = ui.columns([3, 2])
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
        st.image(images, caption=captions, alt=captions, width=84)


def new_run(config: TrainConfig, data: Dataset, log_dir: str | None, priced: Estimate) -> TrainingRun:
    """A fresh run of the sidebar's config (priced already: `priced`), made the session's run."""
    run = TrainingRun(config, data, priced=priced)
    st.session_state[RUN], st.session_state[LOG_DIR] = run, log_dir
    return run


def train_tab(config: TrainConfig | None) -> None:
    """Train / continue buttons, the live training, and the results of the session's run."""
    run: TrainingRun | None = st.session_state.get(RUN)
    a, b, c = ui.columns([1, 1, 2])
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
            priced = check_run(config, data)  # refused before it queues, on the meta device (nothing allocated)
            log_dir = str(session_log_dir() / run_name(config)) if st.session_state.get("tr_tensorboard") else None
            trained = train_live(lambda: new_run(config, data, log_dir, priced), config.epochs, log_dir)
        elif resume and run is not None:
            if run.status in (RunStatus.DIVERGED, RunStatus.EARLY_STOPPED):
                st.warning(f"This run has {run.status.label}: start a new one with Train.")
            else:
                trained = train_live(lambda: run, int(more), st.session_state.get(LOG_DIR))
    if trained:
        st.rerun()  # redraw from the top: buttons above (Continue) and the download reflect the new weights
    run = st.session_state.get(RUN)  # a new run when Train was pressed (and stopped at the time limit)
    if run is None:
        st.info("Press **Train** to train the model set up in the sidebar (default: LeNet-5 on 4,000 MNIST digits, "
                "3 epochs, a few seconds).")
        return
    with friendly_errors("Showing the results"):
        show_results(run)
        publish_run(run, "8_Train.py", "train", snapshot(run)["evaluation"].accuracy, key="tr_pub")
        export_downloads(run.config, "train_run", key="tr_export")


@drawn_in_turns
def main() -> None:
    """Set up, then the tabs: train, loss functions, sanity checks, TensorBoard, save / restore."""
    st.set_page_config(page_title="Train your network", page_icon="🏋️", layout="wide")
    links.start_page()

    st.title("🏋️ Train your network")
    st.markdown(
        "The lecture's last practical sections as one workflow: pick a **loss function**, run the **sanity checks** "
        "of good practice, **train** with live curves, read the confusion matrix and the mistakes, log to "
        "**TensorBoard**, and **save / restore** the weights. Everything is set up in the settings sidebar; every "
        "run is seeded, so the same settings give the same curves."
    )
    sidebar_settings_hint()
    lessons.exercise_panel("8_Train.py")
    config = None
    with friendly_errors("The setup"):
        config = setup()
    TAB_NAMES = ["🏋️ Train", "📉 Loss functions", "✅ Sanity checks", "📊 TensorBoard", "💾 Save / restore"]
    train, losses, sanity, board, save = ui.tabs(TAB_NAMES)
    with save:  # upload first, so a restored run is what the Train tab shows in the same rerun
        st.markdown("A checkpoint holds the weights (`state_dict`), the training config and the metrics. It is "
                    "loaded with `torch.load(..., weights_only=True)`, which refuses any pickled Python code.")
        download_box = ui.container()
        st.divider()
        upload_section(config)
    with train:
        train_tab(config)
    with losses:
        loss_tab(config)
    with sanity:
        sanity_tab(config)
    with board:
        session_tensorboard_tab(st.session_state.get(LOG_DIR))  # this session's runs only
    with download_box:
        download_section()


main()
links.finish_page()
