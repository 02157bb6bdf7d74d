"""Hyper-parameter tuning: the learning-rate range test, and grid / random search as independent trials."""
from dataclasses import replace

import streamlit as st

from cnn_core import DATASETS, MODELS, OPTIMIZERS, OptimizerConfig, TrainConfig
from cnn_core.experiments.executors import ExecutorChoice, stream
from cnn_core.experiments.tuning import (MAX_TRIALS, check_trials, grid_configs, lr_range_points, random_configs,
                                         results_frame, run_trials, summarize_lr_range)
from pages.common import lessons, links
from pages.common.classroom import publish
from pages.common.charts import training as charts
from pages.common.errors import friendly_errors
from pages.common.wording import plural
from pages.common.export_buttons import export_downloads
from pages.common.live.comparison import plan_executor
from pages.common.live import drawn_in_turns, run_live
from pages.common.state import get_dataset
from pages.common.formulas import show_formula

ui = links.bound(st)  # widgets drawn through `ui` with a key live in the address bar (lesson links)

RANGE, SEARCH = "hp_range", "hp_search"
LR_CHOICES = [1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 3.0]
WD_CHOICES = [0.0, 1e-5, 1e-4, 1e-3, 1e-2]


def range_tab(base: TrainConfig) -> None:
    """The LR range test: settings, a live run with Stop, the curve and the suggested rate."""
    st.markdown("A fresh model (same seed every time) trains one mini-batch per step while the rate grows from "
                "the lowest to the highest value. **Suggested rate = the rate at the lowest smoothed loss ÷ 10**: "
                "the minimum sits at the edge of divergence, a tenth of it lies in the steep, safe part.")
    show_formula(r"\eta_t = \eta_{\min}\left(\eta_{\max}/\eta_{\min}\right)^{t/(T-1)},\qquad "
             r"\bar L_t = \frac{\beta \bar L'_{t-1} + (1-\beta) L_t}{1-\beta^t}")
    a, b, c, d = ui.columns(4)
    low = a.select_slider("Lowest rate", LR_CHOICES[:6], 1e-5, key="hp_lr_min", format_func=lambda v: f"{v:g}")
    high = b.select_slider("Highest rate", LR_CHOICES[4:], 1.0, key="hp_lr_max", format_func=lambda v: f"{v:g}")
    steps = c.slider("Steps", 20, 400, 100, 10, key="hp_lr_steps")
    batch = d.select_slider("Batch size", [16, 32, 64, 128, 256], 64, key="hp_lr_batch")
    if st.button("▶ Run range test", type="primary", key="hp_lr_run"):
        state = {"points": [], "min": low, "max": high, "steps": steps, "done": False, "config": base}
        st.session_state[RANGE] = state
        with friendly_errors("The range test"):
            data = get_dataset(base.dataset, base.per_class)
            outcome = run_live(lr_range_points(replace(base, batch_size=batch), data, low, high, steps), "hp_lr",
                               on_item=state["points"].append, label="Range test",
                               progress=lambda p: (p.step / steps, f"Step {p.step} of {steps} · lr {p.lr:.2e} · "
                                                                   f"smoothed loss {p.smoothed:.3f}"))
            state["done"] = not outcome.timed_out
    state = st.session_state.get(RANGE)
    if not state or not state["points"]:
        st.info("Press **Run range test** (about 100 steps: a few seconds).")
        return
    result = summarize_lr_range(state["points"], state["min"], state["max"], state["steps"])
    if not state["done"]:
        st.warning(f"Stopped after {plural(len(state['points']), 'step')}; the curve so far is shown.")
    m = ui.columns(3)  # short labels: a metric label that does not fit is cut ("max_lr reac...")
    m[0].metric("Suggested lr", f"{result.suggested_lr:.1e}", help="The rate the range test suggests.")
    m[1].metric("Lowest loss at lr", f"{result.min_loss_lr:.1e}", help="Where the smoothed loss was lowest.")
    m[2].metric("Steepest at lr", f"{result.steepest_lr:.1e}", help="Where the smoothed loss fell fastest.")
    st.caption(f"Ended because: {result.stop_reason}")
    st.altair_chart(charts.lr_range_chart(result.frame, result.suggested_lr, result.min_loss_lr), width="stretch")
    st.caption("Dots: the loss of each mini-batch; line: its smoothed value. Green: the suggested rate; red dashed: "
               "the lowest smoothed loss. Left of the useful range nothing happens; right of it the loss explodes.")


# One number format per kind, live and final: rates in 1.0e-03 form, accuracies in %, losses with 3 decimals.
RESULT_COLUMNS = {
    "lr": st.column_config.NumberColumn("lr", format="%.1e"),
    "batch_size": st.column_config.NumberColumn("batch size", format="%d"),
    "weight_decay": st.column_config.NumberColumn("weight decay", format="%.1e"),
    "val_accuracy": st.column_config.NumberColumn("val accuracy", format="percent"),
    "best_val_accuracy": st.column_config.NumberColumn("best val accuracy", format="percent"),
    "val_loss": st.column_config.NumberColumn("val loss", format="%.3f"),
    "train_loss": st.column_config.NumberColumn("train loss", format="%.3f"),
    "seconds": st.column_config.NumberColumn("seconds", format="%.1f")}


def search_tab(base: TrainConfig) -> None:
    """Grid or random search over lr, batch size, weight decay: live trials, results table and charts."""
    kind = ui.radio("Search", ["Grid", "Random"], horizontal=True, key="hp_kind",
                    help="Grid: every combination. Random: sample the space (Bergstra & Bengio 2012: random "
                         "search finds good rates with fewer trials when only some hyper-parameters matter).")
    a, b, c, d = ui.columns(4)
    epochs = d.slider("Epochs per trial", 1, 10, 2, key="hp_epochs")
    if kind == "Grid":
        lrs = a.multiselect("Learning rates", LR_CHOICES, [1e-3, 1e-2], key="hp_grid_lr",
                            format_func=lambda v: f"{v:g}")
        sizes = b.multiselect("Batch sizes", [16, 32, 64, 128, 256], [32, 128], key="hp_grid_bs")
        decays = c.multiselect("Weight decays", WD_CHOICES, [0.0], key="hp_grid_wd", format_func=lambda v: f"{v:g}")
    else:
        lr_lo, lr_hi = a.select_slider("Learning-rate range (log-uniform)", LR_CHOICES, (1e-4, 1e-1),
                                       key="hp_rand_lr", format_func=lambda v: f"{v:g}")
        sizes = b.multiselect("Batch sizes", [16, 32, 64, 128, 256], [32, 64, 128], key="hp_rand_bs")
        wd_hi = c.select_slider("Weight decay up to (log-uniform from 1e-6; 0 = off)", WD_CHOICES, 0.0,
                                key="hp_rand_wd", format_func=lambda v: f"{v:g}")
        trials = a.slider("Trials", 2, 32, 6, key="hp_rand_n")
    if st.button("▶ Run search", type="primary", key="hp_search_run"):
        with friendly_errors("The search"):
            trial_base = replace(base, epochs=epochs)
            configs = (grid_configs(trial_base, lrs, sizes, decays) if kind == "Grid" else
                       random_configs(trial_base, trials, (lr_lo, lr_hi), sizes, (0.0, wd_hi), seed=base.seed))
            state = {"configs": configs, "histories": {i: [] for i in range(len(configs))}, "done": False}
            st.session_state[SEARCH] = state
            run_search(state, epochs)
    state = st.session_state.get(SEARCH)
    if not state:
        st.info(f"Press **Run search** (default: 4 trials of {plural(epochs, 'epoch')}, a few seconds). "
                f"At most {plural(MAX_TRIALS, 'trial')}.")
        return
    results = results_frame(state["configs"], state["histories"])
    if not state["done"]:
        st.warning(f"Stopped: {len(results)} of {len(state['configs'])} trials have results.")
    st.dataframe(results, hide_index=True, key="hp_results", column_config=RESULT_COLUMNS)
    st.caption("Sorted by validation accuracy; click a column header to sort by it.")
    if state["done"]:
        publish.publish_search(state["configs"], state["histories"], "9_Hyperparameter_Tuning.py", "tuning",
                       key="hp_pub")
        export_downloads({f"trial {i}": c for i, c in enumerate(state["configs"])}, "tuning_search", key="hp_export")
    if len(results):
        st.markdown("**Validation accuracy against each hyper-parameter** (one point per trial; red: diverged, "
                    "grey: stopped)")
        for column, chart in zip(ui.columns(3), charts.search_scatter(results)):
            column.altair_chart(chart, width="stretch")


def trial_records(configs: list, choice: ExecutorChoice):
    """The trials' (index, record) stream: one after another in this process, or side by side on the
    worker pool / Ray (stream() cancels the submission however the page stops reading)."""
    data = get_dataset(configs[0].dataset, configs[0].per_class)
    if choice.executor.name == "in-process":
        return run_trials(configs, data)
    check_trials(configs, data)
    return stream(choice, dict(enumerate(configs)), data)


def run_search(state: dict, epochs: int) -> None:
    """Train the trials live (side by side when cores are free): progress, the results table at each
    epoch's end, Stop."""
    configs, histories = state["configs"], state["histories"]
    choice = plan_executor(dict(enumerate(configs)))
    if choice.note:
        st.info(choice.note, icon="🖥️")
    total = len(configs) * epochs

    def progress(item: tuple) -> tuple[float, str]:
        index, record = item
        cfg = configs[index]
        done = sum(r.kind == "epoch" for h in histories.values() for r in h)
        return (done / total, f"{done} of {total} trial epochs done · trial {index + 1} of {len(configs)} "
                              f"(lr {cfg.optimizer.resolved_lr():g}, batch {cfg.batch_size}, "
                              f"wd {cfg.optimizer.weight_decay:g}) · epoch {record.epoch} of {epochs}")

    outcome = run_live(trial_records(configs, choice), "hp_search",
                       on_item=lambda item: histories[item[0]].append(item[1]), progress=progress,
                       draw=lambda _, box: box.dataframe(results_frame(configs, histories), hide_index=True,
                                                         column_config=RESULT_COLUMNS),
                       urgent=lambda item: item[1].kind != "step", draw_every=3600.0, label="Searching",
                       slots=choice.parallel)
    state["done"] = not outcome.timed_out
    state["executor"] = choice.executor.name


@drawn_in_turns
def main() -> None:
    """The base setup both tools share, then the range test and the search."""
    st.set_page_config(page_title="Hyper-parameter tuning", page_icon="🎛️", layout="wide")
    links.start_page()
    st.title("🎛️ Hyper-parameter tuning")
    st.markdown(
        "The learning rate matters most, so find its range first: the **LR range test** trains once while the rate "
        "grows exponentially and shows where the loss falls fastest and where it explodes. Then compare a few "
        "settings of learning rate, batch size and weight decay with a **grid** or **random search**; each trial is "
        "an independent, seeded training run, judged on the validation split (never on the test split)."
    )
    lessons.exercise_panel("9_Hyperparameter_Tuning.py")

    with ui.container(border=True):
        st.markdown("**Base setup** (shared by both tools)")
        cols = ui.columns(5)
        dataset = cols[0].selectbox("Dataset", list(DATASETS), format_func=lambda k: DATASETS[k].label, key="hp_dataset")
        trainable = [k for k, spec in MODELS.items() if spec.fixed_input is None and k != "custom"]
        model = cols[1].selectbox("Model", trainable, format_func=lambda k: MODELS[k].label, key="hp_model")
        opt = cols[2].selectbox("Optimizer", list(OPTIMIZERS), index=list(OPTIMIZERS).index("adam"), key="hp_optimizer",
                                format_func=lambda k: OPTIMIZERS[k].label)
        per_class = cols[3].number_input("Training images per class", 10, 6000, 100, step=50, key="hp_per_class",
                                         help="Small subsets keep tuning fast; the ranking usually carries over.")
        seed = cols[4].number_input("Seed", 0, 2**31 - 1, 0, key="hp_seed")
    base = TrainConfig(dataset=dataset, per_class=int(per_class), model=model, optimizer=OptimizerConfig(opt),
                       seed=int(seed))
    range_test, search = ui.tabs(["📈 LR range test", "🔎 Grid / random search"])
    with range_test:
        range_tab(base)
    with search:
        search_tab(base)


main()
links.finish_page()
