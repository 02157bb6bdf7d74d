"""Optimization methods side by side: on a real CNN and on 2-D loss surfaces, with the same torch.optim code."""
import warnings
from dataclasses import replace

import pandas as pd
import streamlit as st

from cnn_core import (DATASETS, MODELS, DatasetUnavailable, ModelOptions, OptimizerConfig, ScheduleConfig,
                      TrainConfig)
from cnn_core.experiments.compare import lr_schedule_frame, optimizer_configs, summary_table, unique_labels
from cnn_core.experiments.sharing import ComparisonSettings, SurfaceSettings, labelled, results_csv
from cnn_core.training.optimizers import OPTIMIZERS, configure
from cnn_core.teaching.toy_surfaces import SURFACES, Surface, compare_2d, summary_2d, surface_grid
from pages.common.charts import epoch_metric_chart, step_loss_chart
from pages.common.errors import friendly_errors
from pages.common.experiments import run_experiment
from pages.common.optimizer_ui import (BATCHES, BOUNDS, MODEL_CHOICES, lr_schedule_chart, optimizer_editor, recolor,
                                       schedule_widgets, set_rows, share_panel, surface_chart, surface_loss_chart,
                                       update_rules, with_divergence)
from pages.common.state import get_dataset

st.set_page_config(page_title="Optimizers · CNN Playground", page_icon="🏃", layout="wide")
st.title("🏃 Optimization methods side by side")
st.markdown(
    "Every optimizer follows the gradient of the loss, but they differ in *how far* and *in which direction* "
    "they step: plain SGD takes the raw gradient, momentum builds up speed, Adagrad / RMSprop / Adam give every "
    "weight its own step size. Race them **on a real CNN** (same initial weights, same batches: only the "
    "optimizer differs) and watch them **on 2-D loss surfaces**, where you can see each step. Both tabs run the "
    "very same `torch.optim` classes.")

KEY = "opt_cnn_experiment"
DEFAULTS = {"cnn_model": "lenet5-modern", "cnn_dataset": "mnist-5k", "cnn_per_class": 100, "cnn_epochs": 2,
            "cnn_batch": 32, "cnn_seed": 0, "cnn_target": 0.5, "cnn_smoothing": 0.6,
            "toy_fn": "rosenbrock", "toy_cond": 50.0, "toy_steps": 300}
for _key, _value in DEFAULTS.items():  # widget defaults live in session state, so an import can overwrite them
    st.session_state.setdefault(_key, _value)
st.session_state.setdefault("toy_x", SURFACES[st.session_state["toy_fn"]].start[0])
st.session_state.setdefault("toy_y", SURFACES[st.session_state["toy_fn"]].start[1])
share_box = st.container()  # filled at the end, once every widget's value is known
tab_cnn, tab_2d = st.tabs(["On a real CNN", "On 2-D loss surfaces"])


@st.cache_data(max_entries=64, show_spinner=False)
def run_surface(surface: Surface, runs: tuple[tuple[str, OptimizerConfig], ...], start: tuple[float, float],
                steps: int, schedule: ScheduleConfig) -> pd.DataFrame:
    """All 2-D trajectories of one setting (cached: sliders re-draw instantly)."""
    return compare_2d(surface, dict(runs), start, steps, schedule)


@st.cache_data(max_entries=32, show_spinner=False)
def grid_of(surface: Surface) -> pd.DataFrame:
    """The contour grid of a surface."""
    return surface_grid(surface, resolution=80)


def surface_lr(name: str) -> float:
    """The suggested learning rate of an optimizer on the chosen surface."""
    return Surface(st.session_state.get("toy_fn", "rosenbrock"), 10.0).suggested_lr(name)


def reset_surface() -> None:
    """A new test function: its own start point and learning rates that suit it."""
    surface = Surface(st.session_state["toy_fn"], 10.0)
    st.session_state["toy_x"], st.session_state["toy_y"] = surface.spec.start
    rows = [configure(c, surface.suggested_lr(c)) for c in
            [st.session_state[f"toy_row{i}_opt"] for i in range(st.session_state.get("toy_rows", 0))]]
    set_rows("toy", rows)


# ---------------------------------------------------------------- tab 1: a real CNN
with tab_cnn:
    st.markdown("**1. Optimizers to compare** (2 to 6; the same optimizer twice with different settings is fine)")
    optimizers = optimizer_editor("cnn", [configure("sgd"), configure("adam")],
                                  lambda name: OPTIMIZERS[name].defaults["lr"], min_rows=2)
    with st.expander("How each of these optimizers updates the weights", expanded=True):
        update_rules(optimizers)
    st.markdown("**2. Model, data and training** (shared by every run)")
    c1, c2, c3, c4 = st.columns(4)
    model = c1.selectbox("Model", MODEL_CHOICES, key="cnn_model", format_func=lambda k: MODELS[k].label)
    dataset = c2.selectbox("Dataset", list(DATASETS), key="cnn_dataset", format_func=lambda k: DATASETS[k].label,
                           help="MNIST 5k is always there; the others need their files or internet once.")
    per_class = c3.number_input("Images per class (0 = all)", *BOUNDS["train.per_class"], step=50, key="cnn_per_class",
                                help="Training images per class; 0 = the whole training split. A small subset keeps "
                                     "a comparison fast on a CPU.")
    epochs = c4.number_input("Epochs", *BOUNDS["train.epochs"], key="cnn_epochs")
    c1, c2, c3, c4 = st.columns(4)
    batch = c1.select_slider("Batch size", BATCHES, key="cnn_batch")
    seed = c2.number_input("Seed", *BOUNDS["train.seed"], key="cnn_seed",
                           help="Same seed: same initial weights and batches.")
    target = c3.number_input("Target training loss", *BOUNDS["target_loss"], step=0.1, format="%g", key="cnn_target",
                             help="The summary counts the steps until the (smoothed) training loss gets this low.")
    smoothing = c4.slider("Curve smoothing", 0.0, 0.95, step=0.05, key="cnn_smoothing",
                          help="Exponential moving average of the noisy per-batch losses (0 = raw).")
    template = st.session_state.get("opt_base", TrainConfig())
    options = template.model_options
    if model == "plain-cnn" and options == ModelOptions():
        options = ModelOptions(depth=4)  # 4 conv layers: slow enough already on a CPU
    base = replace(template, dataset=dataset, per_class=per_class or None, model=model, model_options=options,
                   epochs=int(epochs), batch_size=int(batch), seed=int(seed))
    st.markdown("**3. Learning-rate schedule** (shared; each run scales it by its own η)")
    left, right = st.columns([2, 3])
    with left:
        schedule = schedule_widgets("cnn")
    configs, data = {}, None
    unavailable = st.session_state.setdefault("opt_unavailable", {})  # don't retry a failed download every rerun
    with friendly_errors("Preparing the comparison"):
        configs = optimizer_configs(base, optimizers, schedule)
        if dataset in unavailable:
            raise DatasetUnavailable(unavailable[dataset])
        try:
            data = get_dataset(dataset, base.per_class)
        except DatasetUnavailable as exc:
            unavailable[dataset] = str(exc)
            raise
    if data is not None and configs:
        n_train = len(data.train_y)
        right.altair_chart(lr_schedule_chart(lr_schedule_frame(configs, n_train)), width="stretch")
        left.caption(f"{n_train:,} training images, batch {batch}: {-(-n_train // batch)} steps per epoch, "
                     f"{-(-n_train // batch) * epochs} per run. {MODELS[model].explanation}")
    clicked = st.button("▶ Run the comparison", type="primary", key="cnn_run", disabled=not (configs and data))

    def live(experiment):
        """The chart redrawn while the runs train (one legend selection shared by both halves, as intended)."""
        frame, labels = experiment.frame(), list(experiment.configs)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Automatically deduplicated selection parameter")
            return (recolor(step_loss_chart(frame, smoothing), labels, "step")
                    | recolor(epoch_metric_chart(frame), labels, "epoch"))

    experiment = run_experiment(configs, KEY, start=clicked and bool(configs), live_chart=live)
    if experiment is None:
        st.info("Press **Run the comparison**: the runs train side by side, with live curves and a Stop button.")
    else:
        if experiment.configs != configs:
            st.info("These results belong to earlier settings: press Run to train the current ones.")
        if experiment.status == "stopped":
            st.warning("Stopped: showing what was computed before you pressed Stop.")
        for label, records in experiment.histories.items():
            gone = [r for r in records if r.kind == "diverged"]
            if gone and (not clicked or label in experiment.from_cache):
                st.warning(f"**{label}**: {gone[0].message}")
        table = summary_table(experiment.histories, float(target), smoothing)
        planned = table["run"].map(lambda run: experiment.configs[run].epochs)
        table.loc[(table["status"] == "ok") & (table["epochs"] < planned), "status"] = "stopped"
        frame, labels = experiment.frame(), list(experiment.configs)
        diverged = list(table.loc[table["status"] == "diverged", "run"])
        log_scale = st.toggle("Log-scale loss axis", key="cnn_log")
        left, right = st.columns(2)
        left.altair_chart(with_divergence(recolor(step_loss_chart(frame, smoothing, log_scale), labels, "step"),
                                          frame, diverged, labels, smoothing), width="stretch")
        right.altair_chart(recolor(epoch_metric_chart(frame), labels, "epoch"), width="stretch")
        text = lambda values, fmt: [format(v, fmt) if pd.notna(v) else "—" for v in values]  # noqa: E731
        shown = pd.DataFrame({
            "run": table["run"], "status": table["status"],
            "final val acc %": text(100 * table["final_val_acc"], ".1f"),
            "best val acc %": text(100 * table["best_val_acc"], ".1f"),
            f"steps to loss ≤ {target:g}": [f"{v:.0f}" if pd.notna(v) else "not reached"
                                             for v in table["steps_to_target"]],
            "final train loss": text(table["final_train_loss"], ".3f"), "time (s)": text(table["seconds"], ".1f")})
        st.dataframe(shown.style.map(
            lambda v: "color: #d62728; font-weight: bold" if v == "diverged" else "", subset=["status"]),
            hide_index=True, width="stretch", key="cnn_table")
        cached = f" {len(experiment.from_cache)} of {len(experiment.configs)} runs came from the cache." \
            if experiment.from_cache else ""
        st.caption("Accuracy on the validation split after each epoch; time counts each run's own computing."
                   + cached)
        d1, d2 = st.columns(2)
        d1.download_button("⬇ Results per step and epoch (CSV)", results_csv(frame), "optimizer_comparison.csv",
                           "text/csv", key="cnn_csv")
        d2.download_button("⬇ Summary table (CSV)", results_csv(table), "optimizer_summary.csv", "text/csv",
                           key="cnn_summary_csv")

# ---------------------------------------------------------------- tab 2: 2-D loss surfaces
with tab_2d:
    st.markdown("Each optimizer starts from the same point and minimises a 2-parameter function: the same "
                "`torch.optim` code as on the CNN, on a parameter with just two numbers, so every step can be drawn.")
    c1, c2, c3, c4, c5 = st.columns([2.2, 1, 1, 1, 1.4])
    fn = c1.selectbox("Test function", list(SURFACES), key="toy_fn", format_func=lambda k: SURFACES[k].label,
                      on_change=reset_surface, help="Switching resets the start point and suggests fitting rates.")
    condition = c2.number_input("Bowl's κ", 1.0, 1000.0, step=5.0, key="toy_cond",
                                disabled=fn != "bowl",
                                help="Condition number of the bowl: how much steeper it is along y than along x.")
    spec = SURFACES[fn]
    start_x = c3.number_input("Start x", *BOUNDS["surface.start"], step=0.1, format="%g", key="toy_x")
    start_y = c4.number_input("Start y", *BOUNDS["surface.start"], step=0.1, format="%g", key="toy_y")
    steps = c5.slider("Steps", *BOUNDS["surface.steps"], step=10, key="toy_steps")
    surface = Surface(fn, float(condition))
    st.latex(spec.formula)
    st.caption(spec.explanation)
    toy_defaults = [configure(n, Surface().suggested_lr(n)) for n in ("sgd", "momentum", "adam")]
    toy_optimizers = optimizer_editor("toy", toy_defaults, surface_lr, min_rows=1)
    with st.expander("Learning-rate schedule for the 2-D runs"):
        toy_schedule = schedule_widgets("toy")
    runs: tuple = ()
    with friendly_errors("The 2-D runs"):
        runs = tuple(zip(unique_labels(toy_optimizers), toy_optimizers))
        paths = run_surface(surface, runs, (float(start_x), float(start_y)), int(steps), toy_schedule)
        upto = st.slider("Show the first N steps", 0, int(steps), int(steps), key="toy_upto",
                         help="Scrub through the runs step by step.")
        visible = paths[paths["step"] <= upto]
        left, right = st.columns([3, 2])
        left.altair_chart(surface_chart(grid_of(surface), visible, surface), width="content")
        right.altair_chart(surface_loss_chart(visible), width="stretch")
        for message in paths.loc[paths["message"] != "", ["run", "message"]].drop_duplicates().itertuples():
            st.warning(f"**{message.run}**: {message.message} Try a smaller learning rate.")
        toy_table = summary_2d(paths, surface)
        toy_table["steps_to_tolerance"] = [f"{v}" if pd.notna(v) else "not reached"
                                           for v in toy_table["steps_to_tolerance"]]
        st.dataframe(toy_table.style.format(precision=4), hide_index=True,
                     width="stretch", key="toy_table", column_config={
                         "final_loss": st.column_config.NumberColumn("final loss", format="%.3g"),
                         "final_x": "final x", "final_y": "final y", "nearest_minimum": "nearest minimum",
                         "distance": st.column_config.NumberColumn("distance to it", format="%.3g"),
                         "steps_to_tolerance": "steps to loss < 0.001"})
        st.download_button("⬇ Trajectories (CSV)", results_csv(paths), "optimizer_paths_2d.csv", "text/csv",
                           key="toy_csv")

# ---------------------------------------------------------------- share: settings as JSON
with share_box, st.expander("📤 Share this comparison: export or import its settings as JSON"):
    share_panel(ComparisonSettings(
        labelled({k: c.optimizer for k, c in configs.items()}), schedule, base, float(target),
        SurfaceSettings(fn, float(condition), (float(start_x), float(start_y)), int(steps), labelled(dict(runs)),
                        toy_schedule)))
