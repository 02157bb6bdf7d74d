"""Widgets of the optimizer page: an editable list of optimizer settings, the update rules, schedule
controls and the JSON share panel (its charts are in optimizer_charts.py)."""
from __future__ import annotations

import re
from typing import Callable, Sequence

import streamlit as st

from cnn_core import Dataset, DatasetUnavailable, TrainConfig
from cnn_core.errors import InvalidConfig, PlaygroundError
from cnn_core.experiments.sharing import ComparisonSettings, settings_from_json, settings_to_json
from cnn_core.training.optimizers import (HYPERPARAMETERS, OPTIMIZERS, SCHEDULES, OptimizerConfig, ScheduleConfig,
                                          configure, settings_of, tunables)
from pages.common import links

from pages.common.errors import friendly_errors
from pages.common.state import get_dataset
from pages.common.widgets import JSON_UPLOAD_MB
from pages.common.formulas import formula

ui = links.bound(st)  # widgets drawn through `ui` with a key live in the address bar (lesson links)

ADD_ORDER = ("sgd", "adam", "momentum", "rmsprop", "nesterov", "adagrad", "adamw", "nadam", "adadelta")
LrFor = Callable[[str], float]
MODEL_CHOICES = ("lenet5-modern", "lenet5-classic", "mlp", "plain-cnn")
BATCHES = (8, 16, 32, 64, 128, 256)
# Widget bounds (an imported file must fit them too): field -> (low, high)
BOUNDS = {"train.per_class": (0, 6000), "train.epochs": (1, 50), "train.seed": (0, 1_000_000),
          "target_loss": (0.01, 10.0), "schedule.warmup_steps": (0, 5000), "schedule.gamma": (0.01, 1.0),
          "schedule.step_every": (1, 100_000),
          "surface.steps": (10, 2000), "surface.start": (-20.0, 20.0)}


# ---------------------------------------------------------------- the optimizer list

def _key(prefix: str, i: int, field: str) -> str:
    return f"{prefix}_row{i}_{field}"


def _put_row(prefix: str, i: int, config: OptimizerConfig) -> None:
    values = settings_of(config)
    st.session_state[_key(prefix, i, "opt")] = config.name
    for field, value in values.items():
        st.session_state[_key(prefix, i, field)] = value


def set_rows(prefix: str, configs: Sequence[OptimizerConfig]) -> None:
    """Put optimizer settings into the editor's widget state (defaults, Add/Remove, JSON import)."""
    for key in [k for k in st.session_state if str(k).startswith(f"{prefix}_row")]:
        del st.session_state[key]
    st.session_state[f"{prefix}_rows"] = len(configs)
    for i, config in enumerate(configs):
        _put_row(prefix, i, config)


def _read_row(prefix: str, i: int) -> OptimizerConfig:
    state = st.session_state
    name = state[_key(prefix, i, "opt")]
    hyper = {k: float(state.get(_key(prefix, i, k), v)) for k, v in tunables(name).items()}
    return configure(name, float(state[_key(prefix, i, "lr")]), float(state[_key(prefix, i, "weight_decay")]), **hyper)


def read_rows(prefix: str) -> list[OptimizerConfig]:
    """The optimizer settings currently in the editor."""
    return [_read_row(prefix, i) for i in range(st.session_state.get(f"{prefix}_rows", 0))]


def _changed_optimizer(prefix: str, i: int, lr_for: LrFor) -> None:
    # A new optimizer in a row starts from its own defaults and a sensible learning rate.
    name = st.session_state[_key(prefix, i, "opt")]
    _put_row(prefix, i, configure(name, lr_for(name)))


def _add_row(prefix: str, lr_for: LrFor) -> None:
    rows = read_rows(prefix)
    used = {c.name for c in rows}
    name = next((n for n in ADD_ORDER if n not in used), "adam")
    set_rows(prefix, [*rows, configure(name, lr_for(name))])


def _remove_row(prefix: str, i: int) -> None:
    rows = read_rows(prefix)
    set_rows(prefix, rows[:i] + rows[i + 1:])


def optimizer_editor(prefix: str, defaults: Sequence[OptimizerConfig], lr_for: LrFor,
                     min_rows: int = 2, max_rows: int = 6) -> list[OptimizerConfig]:
    """An editable list of optimizer settings (one row each); returns the current OptimizerConfigs."""
    if f"{prefix}_rows" not in st.session_state:
        set_rows(prefix, defaults)
    n = st.session_state[f"{prefix}_rows"]
    widths = [2.2, 1.3, 1.1, 1.1, 1.1, 0.45]
    for i in range(n):
        cols = ui.columns(widths, vertical_alignment="bottom")
        name = cols[0].selectbox(
            f"Run {i + 1}: optimizer", list(OPTIMIZERS), key=_key(prefix, i, "opt"),
            format_func=lambda k: OPTIMIZERS[k].label, on_change=_changed_optimizer, args=(prefix, i, lr_for),
            help="Switching the optimizer resets this row to its default settings.")
        cols[1].number_input("η learning rate", min_value=1e-6, max_value=100.0, format="%g", step=None,
                             key=_key(prefix, i, "lr"),
                             help="The step size η. Try a huge one (e.g. 10) to watch a run diverge.")
        knobs = list(tunables(name))
        for j in range(2):
            if j < len(knobs):
                knob = HYPERPARAMETERS[knobs[j]]
                # value: the optimizer's own default when a link (not the row's callback) chose the optimizer
                cols[2 + j].number_input(f"{knob.symbol} {knobs[j]}", min_value=knob.low, max_value=knob.high,
                                         value=tunables(name)[knobs[j]], format="%g", step=0.01,
                                         key=_key(prefix, i, knobs[j]),
                                         help=knob.explanation)
        cols[4].number_input("λ weight decay", min_value=0.0, max_value=1.0, format="%g", step=1e-4,
                             key=_key(prefix, i, "weight_decay"),
                             help="Shrinks the weights a little every step (AdamW: decoupled from the gradient).")
        cols[5].button("✕", key=f"{prefix}_remove{i}", on_click=_remove_row, args=(prefix, i),
                       disabled=n <= min_rows, help="Remove this run")
    st.button("Add an optimizer", icon=":material/add:", key=f"{prefix}_add", on_click=_add_row, args=(prefix, lr_for),
              disabled=n >= max_rows, help=f"Compare up to {max_rows} settings; the same optimizer twice is fine.")
    return read_rows(prefix)


def comparison_data(base: TrainConfig) -> Dataset | None:
    """The comparison's dataset, or None with a message (a failed download is not retried every rerun)."""
    unavailable = st.session_state.setdefault("opt_unavailable", {})
    with friendly_errors("Preparing the comparison"):
        if base.dataset in unavailable:
            raise DatasetUnavailable(unavailable[base.dataset])
        try:
            return get_dataset(base.dataset, base.per_class)
        except DatasetUnavailable as exc:
            unavailable[base.dataset] = str(exc)
            raise
    return None


def update_rules(configs: Sequence[OptimizerConfig]) -> None:
    """Each distinct optimizer's one-line explanation and its update rule (LaTeX)."""
    st.caption(r"Notation: $g$ = gradient of the mini-batch loss, $\eta$ = learning rate, $\theta$ = the weights; "
               "every operation is per weight (element-wise).")
    names = list(dict.fromkeys(c.name for c in configs))
    columns = ui.columns(min(len(names), 3) or 1)
    for i, name in enumerate(names):
        spec, column = OPTIMIZERS[name], columns[i % len(columns)]
        column.markdown(f"**{spec.label}**: {spec.explanation}")
        lines = re.split(r",\\(?:quad|\s)\s*", spec.update_rule)  # one assignment per line: long rules fit
        formula(column, r"\begin{gathered}" + r" \\ ".join(lines) + r"\end{gathered}" if len(lines) > 1 else lines[0])


# ---------------------------------------------------------------- sharing: settings as JSON

def check_page_limits(settings: ComparisonSettings) -> None:
    """Raise InvalidConfig, naming the field, for valid settings that this page's controls cannot show."""
    base, surface = settings.base, settings.surface
    if base.model not in MODEL_CHOICES:
        raise InvalidConfig(f"train.model: this page trains {', '.join(MODEL_CHOICES)}, not {base.model!r}")
    if base.batch_size not in BATCHES:
        raise InvalidConfig(f"train.batch_size: this page offers {', '.join(map(str, BATCHES))}, not {base.batch_size}")
    checks = [("train.per_class", base.per_class or 0, "train.per_class"),
              ("train.epochs", base.epochs, "train.epochs"), ("train.seed", base.seed, "train.seed"),
              ("target_loss", settings.target_loss, "target_loss")]
    for prefix, schedule in [("", settings.schedule)] + ([("surface.", surface.schedule)] if surface else []):
        checks += [(f"{prefix}schedule.warmup_steps", schedule.warmup_steps, "schedule.warmup_steps"),
                   (f"{prefix}schedule.gamma", schedule.gamma, "schedule.gamma"),
                   (f"{prefix}schedule.step_every", schedule.step_every, "schedule.step_every")]
    if surface is not None:
        checks.append(("surface.steps", surface.steps, "surface.steps"))
        checks += [(f"surface.start[{i}]", v, "surface.start") for i, v in enumerate(surface.start or ())]
    for field, value, bound in checks:  # (field in the file, its value, its BOUNDS entry)
        low, high = BOUNDS[bound]
        if not low <= value <= high:
            raise InvalidConfig(f"{field}: this page takes {low:g} to {high:g}, got {value:g}")


def import_settings() -> None:
    """Callback of 'Load settings': put imported JSON into every widget, or keep an error message."""
    state, upload = st.session_state, st.session_state.get("opt_import_file")
    try:
        settings = settings_from_json(upload.getvalue() if upload is not None else state.get("opt_import_text", ""))
        check_page_limits(settings)
    except PlaygroundError as exc:  # cnn_core turns every malformed input into InvalidConfig (a PlaygroundError)
        state["opt_import_msg"] = ("error", f"Could not load these settings. {exc}")
        return
    base = settings.base
    set_rows("cnn", [r.optimizer for r in settings.runs])
    set_schedule("cnn", settings.schedule)
    state.update(opt_base=base, cnn_model=base.model, cnn_dataset=base.dataset, cnn_per_class=base.per_class or 0,
                 cnn_epochs=base.epochs, cnn_batch=base.batch_size, cnn_seed=base.seed, cnn_target=settings.target_loss)
    if settings.surface is not None:
        s = settings.surface
        state.update(toy_fn=s.function, toy_cond=s.condition, toy_steps=s.steps)
        state["toy_x"], state["toy_y"] = s.start if s.start is not None else s.surface().spec.start
        if s.runs:
            set_rows("toy", [r.optimizer for r in s.runs])
        set_schedule("toy", s.schedule)
    state["opt_import_msg"] = ("success", f"Loaded {len(settings.runs)} CNN runs"
                               + (f" and the 2-D setup ({s.function})." if settings.surface else "."))


def share_panel(settings: ComparisonSettings) -> None:
    """Export the page's settings as JSON; import a file or pasted text into every control."""
    st.caption("A teacher exports the settings; students load the file and get exactly the same runs "
               "(same model, data, seed, optimizers, schedule and 2-D setup).")
    with friendly_errors("Exporting the settings"):
        st.download_button("⬇ Export settings (JSON)", settings_to_json(settings), "optimizer_comparison.json",
                           "application/json", key="opt_export")
    st.file_uploader("Import a settings file", type=["json"], key="opt_import_file", max_upload_size=JSON_UPLOAD_MB)
    st.text_area("... or paste the JSON here", key="opt_import_text", height=120)
    st.button("Load settings", key="opt_import", on_click=import_settings,
              help="Sets every control on this page to the imported values. An uploaded file wins over pasted text.")
    kind, message = st.session_state.pop("opt_import_msg", (None, None))
    if kind == "error":
        st.error(message)
    elif kind == "success":
        st.success(message)


# ---------------------------------------------------------------- learning-rate schedule

def set_schedule(prefix: str, schedule: ScheduleConfig) -> None:
    """Put a schedule into the schedule widgets' state."""
    state = st.session_state
    state[f"{prefix}_sched"], state[f"{prefix}_warmup"] = schedule.name, schedule.warmup_steps
    state[f"{prefix}_every"], state[f"{prefix}_gamma"] = schedule.step_every, schedule.gamma
    state[f"{prefix}_floor"] = schedule.min_factor


def schedule_widgets(prefix: str) -> ScheduleConfig:
    """Learning-rate schedule controls (shared by all runs); returns the ScheduleConfig."""
    if f"{prefix}_sched" not in st.session_state:
        set_schedule(prefix, ScheduleConfig())
    left, right = ui.columns(2)
    name = left.selectbox("Learning-rate schedule", list(SCHEDULES), key=f"{prefix}_sched",
                          format_func=lambda k: SCHEDULES[k].label,
                          help="How the learning rate changes during training, as a multiple of each run's η.")
    right.number_input("Warm-up steps", 0, 5000, step=10, key=f"{prefix}_warmup",
                       help="Rise linearly from ~0 to η over this many steps first (0 = no warm-up).")
    st.caption(SCHEDULES[name].explanation)
    if name in ("step", "exponential"):
        left.number_input("Every N steps", 1, 100_000, step=10, key=f"{prefix}_every",
                          help="Step decay: multiply by gamma every N steps. Exponential: gamma per N steps, smoothly.")
        right.number_input("gamma", 0.01, 1.0, step=0.05, format="%g", key=f"{prefix}_gamma",
                           help="The decay factor per N steps.")
    if name in ("cosine", "onecycle"):
        left.number_input("Floor (fraction of η)", 0.0, 1.0, step=0.05, format="%g", key=f"{prefix}_floor",
                          help="The lowest rate at the end, as a fraction of η.")
    state = st.session_state
    return ScheduleConfig(name, int(state[f"{prefix}_warmup"]), int(state[f"{prefix}_every"]),
                          float(state[f"{prefix}_gamma"]), float(state[f"{prefix}_floor"]))
