"""Optimization methods side by side: on a real CNN and on 2-D loss surfaces, with the same torch.optim code."""
import streamlit as st

from cnn_core import MODELS, RunStatus, ScheduleConfig, TrainConfig
from cnn_core.experiments.compare import (comparison_base, lr_schedule_frame, optimizer_configs, planned_steps,
                                          summary_table, unique_labels)
from cnn_core.experiments.sharing import ComparisonSettings, SurfaceSettings, labelled, results_csv
from cnn_core.teaching.toy_surfaces import SURFACES, Surface, summary_2d
from cnn_core.training.optimizers import OPTIMIZERS, configure
from pages.common import lessons, links
from pages.common.classroom import publish
from pages.common.errors import friendly_errors
from pages.common.export_buttons import export_downloads
from pages.common.live import drawn_in_turns
from pages.common.live.comparison import run_experiment, timing_caption
from pages.optimizers.charts import draw_comparison_results, draw_live_comparison, draw_lr_schedule, summary_display
from pages.optimizers.surfaces import run_surface, surface_specs
from pages.optimizers.controls import (BATCHES, BOUNDS, MODEL_CHOICES, comparison_data, optimizer_editor,
                                       schedule_widgets, set_rows, share_panel, update_rules)
from pages.common.widgets import dataset_picker, model_picker, seed_input
from pages.common.formulas import show_formula

ui = links.bound(st)  # widgets drawn through `ui` with a key live in the address bar (lesson links)
KEY = "opt_cnn_experiment"
# 200 per class x 2 epochs = 126 steps per run: SGD visibly learns (58 % val) while Adam is ahead (85 %), a few s
# for both on 2 cores (benchmarks/teaching_defaults.py); at 100 per class (64 steps) SGD looked useless (28 %).
DEFAULTS = {"cnn_model": "lenet5-modern", "cnn_dataset": "mnist-5k", "cnn_per_class": 200, "cnn_epochs": 2,
            "cnn_batch": 32, "cnn_seed": 0, "cnn_target": 0.5, "cnn_smoothing": 0.6,
            "toy_fn": "rosenbrock", "toy_cond": 50.0, "toy_steps": 300}


def init_state() -> None:
    """Widget defaults live in session state, so an imported settings file can overwrite them."""
    for key, value in DEFAULTS.items():
        st.session_state.setdefault(key, value)
    st.session_state.setdefault("toy_x", SURFACES[st.session_state["toy_fn"]].start[0])
    st.session_state.setdefault("toy_y", SURFACES[st.session_state["toy_fn"]].start[1])


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


def pick_training() -> tuple[TrainConfig, float, float]:
    """Model, data and training shared by every run; returns (base config, target loss, smoothing)."""
    c1, c2, c3, c4 = ui.columns(4)
    model = model_picker("cnn_model", c1, list(MODEL_CHOICES))
    dataset = dataset_picker("cnn_dataset", c2, help="MNIST 5k is always there; the others need their files or "
                                                     "internet once.")
    per_class = c3.number_input("Images per class (0 = all)", *BOUNDS["train.per_class"], step=50, key="cnn_per_class",
                                help="Training images per class; 0 = the whole training split. A small subset keeps "
                                     "a comparison fast on a CPU.")
    epochs = c4.number_input("Epochs", *BOUNDS["train.epochs"], key="cnn_epochs")
    c1, c2, c3, c4 = ui.columns(4)
    batch = c1.select_slider("Batch size", BATCHES, key="cnn_batch")
    seed = seed_input("cnn_seed", c2, max_value=BOUNDS["train.seed"][1],
                      help="Same seed: same initial weights and batches.")
    target = c3.number_input("Target training loss", *BOUNDS["target_loss"], step=0.1, format="%g", key="cnn_target",
                             help="The summary counts the steps until the (smoothed) training loss gets this low.")
    smoothing = c4.slider("Curve smoothing", 0.0, 0.95, step=0.05, key="cnn_smoothing",
                          help="Exponential moving average of the noisy per-batch losses (0 = raw).")
    base = comparison_base(st.session_state.get("opt_base", TrainConfig()), dataset=dataset, per_class=per_class,
                           model=model, epochs=epochs, batch_size=batch, seed=seed)
    return base, float(target), float(smoothing)


def show_results(experiment, configs: dict, clicked: bool, target: float, smoothing: float) -> None:
    """Curves, the summary table and CSV downloads of a finished (or stopped) comparison."""
    if experiment.configs != configs:
        st.info("These results belong to earlier settings: press Run to train the current ones.")
    if experiment.status == RunStatus.STOPPED:
        st.warning("Stopped: showing what was computed before you pressed Stop.")
    for label, records in experiment.histories.items():
        gone = [r for r in records if r.kind == "diverged"]
        if gone and (not clicked or label in experiment.from_cache):
            st.warning(f"**{label}**: {gone[0].message}")
    table = summary_table(experiment.histories, target, smoothing,
                          planned={label: cfg.epochs for label, cfg in experiment.configs.items()})
    for label, note in zip(table["run"], table["note"]):
        if note:  # neither diverged nor learned: say so instead of a plain "finished"
            st.warning(f"**{label}** is not learning: {note}. Try another learning rate or more steps.")
    frame, labels = experiment.frame(), list(experiment.configs)
    diverged = list(table.loc[table["status"] == RunStatus.DIVERGED.label, "run"])
    log_scale = ui.toggle("Log-scale loss axis", key="cnn_log")
    left, right = ui.columns(2)
    draw_comparison_results(left, right, frame, labels, diverged, smoothing, log_scale)
    st.dataframe(summary_display(table, target), hide_index=True, width="stretch", key="cnn_table")
    cached = f" {len(experiment.from_cache)} of {len(experiment.configs)} runs came from the cache." \
        if experiment.from_cache else ""
    st.caption("Accuracy on the validation split after each epoch." + timing_caption(experiment) + cached)
    d1, d2 = ui.columns(2)
    # the CSVs are written when clicked (a callable), not on every rerun of every session
    d1.download_button("⬇ Results per step and epoch (CSV)", lambda: results_csv(frame), "optimizer_comparison.csv",
                       "text/csv", key="cnn_csv")
    d2.download_button("⬇ Summary table (CSV)", lambda: results_csv(table), "optimizer_summary.csv", "text/csv",
                       key="cnn_summary_csv")


def cnn_tab() -> tuple[dict, ScheduleConfig, TrainConfig, float]:
    """Race optimizers on a real CNN; returns (configs, schedule, base, target) for the share panel."""
    run_row, results = ui.container(), ui.container()  # Run and its results first (above the fold), settings below
    st.markdown("**1. Optimizers to compare** (2 to 6; the same optimizer twice with different settings is fine)")
    optimizers = optimizer_editor("cnn", [configure("sgd"), configure("adam")],
                                  lambda name: OPTIMIZERS[name].defaults["lr"], min_rows=2)
    with ui.expander("How each of these optimizers updates the weights", expanded=True):
        update_rules(optimizers)
    st.markdown("**2. Model, data and training** (shared by every run)")
    base, target, smoothing = pick_training()
    st.markdown("**3. Learning-rate schedule** (shared; each run scales it by its own η)")
    left, right = ui.columns([2, 3])
    with left:
        schedule = schedule_widgets("cnn")
    configs: dict = {}
    with friendly_errors("Preparing the comparison"):
        configs = optimizer_configs(base, optimizers, schedule)
    data = comparison_data(base)
    if data is not None and configs:
        n_train = len(data.train_y)
        per_epoch = planned_steps(n_train, base.batch_size)
        draw_lr_schedule(right, lr_schedule_frame(configs, n_train), tuple(configs))
        left.caption(f"{n_train:,} training images, batch {base.batch_size}: {per_epoch} steps per epoch, "
                     f"{per_epoch * base.epochs} per run. {MODELS[base.model].explanation}")
    clicked = run_row.button("▶ Run the comparison", type="primary", key="cnn_run", disabled=not (configs and data))
    with results:
        experiment = run_experiment(configs, KEY, start=clicked and bool(configs),
                                    live_draw=lambda e, box: draw_live_comparison(box, e.frame(), e.configs, smoothing))
        if experiment is None:
            st.info("Press **Run the comparison** (settings below): the runs train side by side, with live curves "
                    "and a Stop button.")
        else:
            show_results(experiment, configs, clicked, target, smoothing)
            publish.publish_experiment(experiment, "7_Optimizers.py", "optimizers", key="cnn_pub")
            export_downloads(experiment.configs, "optimizer_comparison", key="cnn_export")
    return configs, schedule, base, target


def pick_surface() -> tuple[Surface, tuple[float, float], int]:
    """Test function, its condition number, the start point and the number of steps."""
    c1, c2, c3, c4, c5 = ui.columns([2.2, 1, 1, 1, 1.4])
    fn = c1.selectbox("Test function", list(SURFACES), key="toy_fn", format_func=lambda k: SURFACES[k].label,
                      on_change=reset_surface, help="Switching resets the start point and suggests fitting rates.")
    condition = c2.number_input("Bowl's κ", 1.0, 1000.0, step=5.0, key="toy_cond", disabled=fn != "bowl",
                                help="Condition number of the bowl: how much steeper it is along y than along x.")
    start_x = c3.number_input("Start x", *BOUNDS["surface.start"], step=0.1, format="%g", key="toy_x")
    start_y = c4.number_input("Start y", *BOUNDS["surface.start"], step=0.1, format="%g", key="toy_y")
    steps = c5.slider("Steps", *BOUNDS["surface.steps"], step=10, key="toy_steps")
    return Surface(fn, float(condition)), (float(start_x), float(start_y)), int(steps)


def show_surface_runs(surface: Surface, runs: tuple, start: tuple[float, float], steps: int,
                      schedule: ScheduleConfig) -> None:
    """The 2-D paths on the contour map, loss per step, warnings and the summary table."""
    paths = run_surface(surface, runs, start, steps, schedule)
    upto = ui.slider("Show the first N steps", 0, steps, steps, key="toy_upto",
                     help="Scrub through the runs step by step.")
    contour, losses = surface_specs(surface, runs, start, steps, schedule, upto)
    left, right = ui.columns([3, 2])
    left.vega_lite_chart(spec=contour, width="content")
    right.vega_lite_chart(spec=losses, width="stretch")
    for message in paths.loc[paths["message"] != "", ["run", "message"]].drop_duplicates().itertuples():
        st.warning(f"**{message.run}**: {message.message} Try a smaller learning rate.")
    toy_table = summary_2d(paths, surface)
    toy_table["steps_to_tolerance"] = toy_table["steps_to_tolerance"].astype(object).fillna("not reached").astype(str)
    st.dataframe(toy_table, hide_index=True, width="stretch", key="toy_table", column_config={  # no Styler: cheap
                     "final_loss": st.column_config.NumberColumn("final loss", format="%.3g"),
                     "final_x": st.column_config.NumberColumn("final x", format="%.4f"),
                     "final_y": st.column_config.NumberColumn("final y", format="%.4f"),
                     "nearest_minimum": "nearest minimum",
                     "distance": st.column_config.NumberColumn("distance to it", format="%.3g"),
                     "steps_to_tolerance": "steps to loss < 0.001"})
    st.download_button("⬇ Trajectories (CSV)", lambda: results_csv(paths), "optimizer_paths_2d.csv", "text/csv",
                       key="toy_csv")


def surface_tab() -> SurfaceSettings:
    """The same torch.optim optimizers on a 2-parameter function; returns its settings for the share panel."""
    st.markdown("Each optimizer starts from the same point and minimises a 2-parameter function: the same "
                "`torch.optim` code as on the CNN, on a parameter with just two numbers, so every step can be drawn.")
    surface, start, steps = pick_surface()
    show_formula(surface.spec.formula)
    st.caption(surface.spec.explanation)
    toy_defaults = [configure(n, Surface().suggested_lr(n)) for n in ("sgd", "momentum", "adam")]
    toy_optimizers = optimizer_editor("toy", toy_defaults, surface_lr, min_rows=1)
    with ui.expander("Learning-rate schedule for the 2-D runs"):
        toy_schedule = schedule_widgets("toy")
    runs: tuple = ()
    with friendly_errors("The 2-D runs"):
        runs = tuple(zip(unique_labels(toy_optimizers), toy_optimizers))
        show_surface_runs(surface, runs, start, steps, toy_schedule)
    return SurfaceSettings(surface.name, surface.condition, start, steps, labelled(dict(runs)), toy_schedule)


@drawn_in_turns
def main() -> None:
    """Title, the two tabs, and the share panel above them (filled last, once every value is known)."""
    st.set_page_config(page_title="Optimizers · CNN Playground", page_icon="🏃", layout="wide")
    links.start_page()
    st.title("🏃 Optimization methods side by side")
    st.markdown(
        "Every optimizer follows the gradient of the loss, but they differ in *how far* and *in which direction* "
        "they step: plain SGD takes the raw gradient, momentum builds up speed, Adagrad / RMSprop / Adam give every "
        "weight its own step size. Race them **on a real CNN** (same initial weights, same batches: only the "
        "optimizer differs) and watch them **on 2-D loss surfaces**, where you can see each step. Both tabs run the "
        "very same `torch.optim` classes.")
    lessons.exercise_panel("7_Optimizers.py")
    init_state()
    share_box = ui.container()
    tab_cnn, tab_2d = ui.tabs(["On a real CNN", "On 2-D loss surfaces"])
    with tab_cnn:
        configs, schedule, base, target = cnn_tab()
    with tab_2d:
        surface_settings = surface_tab()
    with share_box, ui.expander("📤 Share this comparison: export or import its settings as JSON"):
        share_panel(ComparisonSettings(labelled({k: c.optimizer for k, c in configs.items()}), schedule, base,
                                       target, surface_settings))


main()
links.finish_page()
