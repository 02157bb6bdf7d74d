"""Weight initialization: what each scheme does to activations and gradients at the start, and to training."""
from dataclasses import dataclass

import pandas as pd
import streamlit as st

from cnn_core import ACTIVATIONS, INIT_SCHEMES, MODELS, OPTIMIZERS, ModelOptions, OptimizerConfig, TrainConfig
from cnn_core.experiments.init_stats import (INIT_MODELS, InitStats, InitStatsConfig, init_statistics, spread_layers,
                                             symmetry_after_training, training_summary)
from pages.common import lessons, links
from pages.common.live import drawn_in_turns
from pages.common.classroom import publish
from pages.common.charts import epoch_metric_chart, step_loss_chart
from pages.common.errors import friendly_errors
from pages.common.export_buttons import export_downloads
from pages.common.phone import sidebar_settings_hint
from pages.common.live.comparison import run_experiment
from pages.common.charts.palette import run_encodings
from pages.weight_init.charts import line_charts, ridgeline, scheme_colors
from pages.common.state import get_dataset
from pages.common.widgets import learning_rate_input, model_picker, seed_input
from pages.common.formulas import show_formula

ui = links.bound(st)  # widgets drawn through `ui` with a key live in the address bar (lesson links)

DEFAULT_SCHEMES = ["zeros", "normal-small", "normal-large", "xavier-normal", "kaiming-normal-fan-in"]


@dataclass(frozen=True)
class Network:
    """The sidebar's choices, shared by both tabs."""

    model: str
    depth: int
    width: int | None  # None: the model's own (LeNet-5)
    activation: str
    schemes: tuple[str, ...]
    seed: int

    @property
    def labels(self) -> dict[str, str]:
        """Scheme key -> its label (the run name on every chart)."""
        return {s: INIT_SCHEMES[s].label for s in self.schemes}


@st.cache_data(max_entries=16, show_spinner="Pushing a batch through each initialized network...")
def at_init(config: InitStatsConfig) -> InitStats:
    """Cached per config: the same network and seed are never recomputed."""
    return init_statistics(config, get_dataset(config.dataset, None))


def sidebar_network() -> Network:
    """Network, depth, width, activation, schemes and seed in the sidebar."""
    sb = ui.sidebar
    sb.header("Network")
    model = model_picker("init_model", sb, list(INIT_MODELS), label="Network", index=INIT_MODELS.index("deep-mlp"))
    sb.caption(MODELS[model].explanation)
    deep = model != "lenet5-modern"
    depth = sb.slider("Hidden layers (depth)", 2, 30, 10, key="init_depth", disabled=not deep,
                      help="Deep plain nets (no skip connections, no batch norm) show the effect best.")
    width = sb.select_slider("Width (units or channels per layer)", [8, 16, 32, 64, 128, 256],
                             128 if model == "deep-mlp" else 16, key=f"init_width_{model}", disabled=not deep)
    activation = sb.radio("Activation", ["relu", "tanh", "sigmoid"], key="init_activation", horizontal=True,
                          help="The right initialization depends on it: Kaiming for ReLU, Xavier for tanh.")
    sb.caption(ACTIVATIONS[activation].explanation)
    schemes = sb.multiselect("Initialization schemes (2 to 6)", list(INIT_SCHEMES), max_selections=6,
                             key="init_schemes", default=DEFAULT_SCHEMES, format_func=lambda k: INIT_SCHEMES[k].label)
    seed = seed_input("init_seed", sb, max_value=10_000, help="Same seed: same batch, same initial weights.")
    return Network(model, depth, width if deep else None, activation, tuple(schemes), seed)


def scheme_formulas(schemes: tuple[str, ...]) -> None:
    """The variance rule and each chosen scheme's formula."""
    with ui.expander("The schemes and their formulas", expanded=False):
        st.markdown("$n_{in}$ = fan-in (inputs per unit: in_channels × kernel area), $n_{out}$ = fan-out. "
                    "The *gain* corrects for the activation: $\\sqrt{2}$ for ReLU (it zeroes half of its inputs), "
                    "$5/3$ for tanh, 1 for sigmoid and linear. Biases start at 0.")
        show_formula(r"\mathrm{Var}[y] = n_{in}\,\mathrm{Var}[w]\,\mathbb{E}[x^2] \;\Rightarrow\; "
                 r"\mathrm{Var}[w] = \tfrac{\text{gain}^2}{n_{in}} \text{ keeps the scale from layer to layer}")
        for col, scheme in zip(ui.columns(min(len(schemes), 3)) * 2, schemes):
            with col:
                st.markdown(f"**{INIT_SCHEMES[scheme].label}**")
                show_formula(INIT_SCHEMES[scheme].formula)
                st.caption(INIT_SCHEMES[scheme].explanation)


def histogram_charts(stats, net: Network, kind: str) -> None:
    """Per-layer histograms of activations and gradients (at most 12 layers)."""
    labels, colors = list(net.labels.values()), scheme_colors(net.labels.values())
    hist = stats.histograms[stats.histograms["layer"].isin(spread_layers(stats.layers["layer"], 12))]
    zeros_note = " (exact zeros left out: see the dead-ReLU charts)" if net.activation == "relu" else ""
    st.altair_chart(ridgeline(hist[hist["kind"] == "activation"], f"Activation histograms per layer{zeros_note}",
                              labels, colors), width="stretch")
    st.altair_chart(ridgeline(hist[hist["kind"] == kind], f"Histograms of the {kind}s per layer", labels, colors),
                    width="stretch")
    st.caption("Each column uses one x range (in its header, set by the hidden layers) for all its layers, so a "
               "distribution that shrinks to a spike in the middle has vanished and one that spreads to the "
               "edges has exploded; values outside the range land in the edge bins. Heights are on a "
               "square-root scale so thin tails stay visible. In the CNN, the global average pooling spreads "
               "the output gradient over 28×28 positions, so conv-layer gradients are much smaller than the "
               "logits' gradient.")


def at_init_tab(net: Network) -> None:
    """Statistics of one seeded batch through each freshly initialized network."""
    c1, c2, c3, c4 = ui.columns(4)
    batch = c1.select_slider("Images in the batch", [32, 64, 128, 256, 512], 128, key="init_batch",
                             help="A fixed, seeded batch of real MNIST digits goes through each network once.")
    kind = c2.radio("Backward pass: gradient of the loss with respect to", ["activation gradient", "weight gradient"],
                    key="init_grad_kind", format_func=lambda k: {"activation gradient": "each layer's output",
                                                                 "weight gradient": "each layer's weights"}[k])
    stat = c3.radio("Statistic per layer", ["std", "mean", "rms", "abs_mean"], key="init_stat", horizontal=True,
                    help="rms = sqrt(mean of squares): what Kaiming's derivation keeps constant. abs_mean = mean |x|.")
    log = c4.checkbox("Log scale", True, key="init_log",
                      help="Vanishing and exploding signals change by orders of magnitude: a log axis shows both "
                           "(values <= 0, e.g. the zero init or negative means, cannot be drawn on it).")
    config = InitStatsConfig(model=net.model, depth=net.depth, width=net.width, activation=net.activation,
                             schemes=net.schemes, batch_size=batch, seed=net.seed)
    with friendly_errors("Computing the statistics at initialization"):
        stats = at_init(config)
        line_charts(stats, net, kind, stat, log)
        histogram_charts(stats, net, kind)
        out = pd.DataFrame({"scheme": stats.outputs["label"],
                            "initial loss": stats.outputs["loss"].map(lambda v: f"{v:.4g}"),
                            "std of the logits": stats.outputs["logit_std"].map(lambda v: f"{v:.3g}")})
        st.markdown("**The first forward pass.** An untrained 10-class network should output a loss near "
                    "ln 10 ≈ 2.30; a much larger loss means exploding logits (and a first step that diverges).")
        st.dataframe(out, hide_index=True)
        with ui.expander("Measured weight std against each formula"):
            st.dataframe(stats.weights.drop(columns="scheme"), hide_index=True)


def training_configs(net: Network) -> tuple[dict[str, TrainConfig], float]:
    """Optimizer, learning rate, epochs, data size and target; one TrainConfig per scheme."""
    c1, c2, c3, c4, c5 = ui.columns(5)
    opt = c1.selectbox("Optimizer", ["momentum", "sgd", "adam"], key="init_opt",
                       format_func=lambda k: OPTIMIZERS[k].label)
    lr = learning_rate_input(f"init_lr_{opt}", container=c2, value=0.01 if opt != "adam" else 0.001)
    epochs = c3.slider("Epochs", 1, 20, 5, key="init_epochs")
    per_class = c4.select_slider("Training images per class", [50, 100, 200, 400], 400, key="init_per_class",
                                 help="400 = all 4,000 training images of mnist-5k.")
    target = c5.slider("Target validation accuracy", 0.5, 0.99, 0.9, 0.01, key="init_target",
                       help="The summary counts the epochs each scheme needs to reach it.")
    options = ModelOptions(activation=net.activation, depth=net.depth, width=net.width)
    return {net.labels[s]: TrainConfig(model=net.model, model_options=options, init=s, per_class=per_class,
                                       epochs=epochs, optimizer=OptimizerConfig(opt, lr=lr), batch_size=64,
                                       seed=net.seed)
            for s in net.schemes}, float(target)


def show_training(experiment, target: float) -> None:
    """Curves and the summary table, with the symmetry check on the trained weights."""
    frame = experiment.frame()
    log_loss = ui.checkbox("Log scale for the loss", False, key="init_log_loss")
    left, right = ui.columns(2)
    runs = run_encodings("run", list(experiment.configs), title=None)  # the first tab's colours, and a dash per run
    left.altair_chart(step_loss_chart(frame, smoothing=0.6, log_scale=log_loss).encode(**runs), width="stretch")
    right.altair_chart(epoch_metric_chart(frame).encode(**run_encodings("run", list(experiment.configs), title=None,
                                                                         shapes=True)), width="stretch")
    table = training_summary(experiment.histories, target)
    first = next(iter(experiment.configs.values()))
    symmetry = symmetry_after_training(experiment.configs, experiment.states,
                                       get_dataset(first.dataset, first.per_class))
    table["epochs_to_target"] = table["epochs_to_target"].map(lambda e: "not reached" if pd.isna(e) else str(int(e)))
    table["identical hidden layers"] = [f"{s[0]} of {s[1]}" if s else "n/a" for s in symmetry.values()]
    st.dataframe(table, hide_index=True, column_config={
        "epochs": st.column_config.NumberColumn(width="small"),
        "final_val_acc": st.column_config.NumberColumn("final val acc", format="%.3f"),
        "best_val_acc": st.column_config.NumberColumn("best val acc", format="%.3f"),
        "epochs_to_target": st.column_config.TextColumn(f"epochs to {target:.0%}"),
        "final_train_loss": st.column_config.NumberColumn("train loss", format="%.4f"),
        "identical hidden layers": st.column_config.TextColumn(
            "identical layers", help="Hidden layers whose units all have the same weights after training")})
    st.caption(f"Status: {experiment.status}. Runs taken from the cache: {', '.join(experiment.from_cache) or 'none'}.")


def training_tab(net: Network) -> None:
    """Train the schemes side by side: same seed, batches and optimizer."""
    st.markdown("Train the same network with each scheme: same seed, same batches, same optimizer. "
                "Only the starting weights differ.")
    configs, target = training_configs(net)
    start = st.button("▶ Train the schemes side by side", key="init_train_start", type="primary")
    experiment = run_experiment(configs, key="init_experiment", start=start)
    if experiment is None:
        st.info("Press the button to train. Defaults take a few seconds on a laptop CPU; finished runs are "
                "cached, so repeating a setting is instant.")
    else:
        if experiment.configs != configs:
            st.caption("These results are from your last run; the settings have changed since. Train again to update.")
        with friendly_errors("Drawing the results"):
            show_training(experiment, target)
            publish.publish_experiment(experiment, "5_Weight_Initialization.py", "weight-init", key="init_pub")
            export_downloads(experiment.configs, "weight_init_comparison", key="init_export")
    st.info("**Why the all-zero init cannot learn (symmetry).** If every weight starts equal, every unit of a "
            "layer computes the same output and receives the same gradient, so after any number of updates the "
            "units are still identical copies: a layer of 128 units works like a single unit. With zeros it is "
            "worse: the gradients of the hidden weights are exactly 0, so only the last layer's biases move and "
            "the network predicts the most frequent class (about 10 %). The last column checks the trained "
            "weights: every hidden layer of the zero and constant inits still has identical units. Random "
            "initialization breaks the symmetry; the scale of the randomness is what the schemes are about.")


@drawn_in_turns
def main() -> None:
    """Title, the sidebar network, and the two tabs."""
    st.set_page_config(page_title="Weight initialization", page_icon="🎲", layout="wide")
    links.start_page()
    st.title("🎲 Weight initialization")
    st.markdown(
        "The lecture's **Weight Initialization** section on a real network. Before training, the initial weights "
        "decide whether a signal survives the trip through many layers: too small and activations and gradients "
        "**vanish**, too large and they **explode**, all equal and every unit stays the same forever (**symmetry**). "
        "Xavier/Glorot and Kaiming/He pick the weight variance from the layer size so the scale is kept. "
        "Look at a network *at initialization* (no training), then train the schemes side by side. "
        "The network and the schemes are chosen in the sidebar."
    )
    sidebar_settings_hint()
    lessons.exercise_panel("5_Weight_Initialization.py")
    net = sidebar_network()
    if len(net.schemes) < 2:
        st.warning("Pick at least two initialization schemes in the sidebar to compare them.")
        return
    scheme_formulas(net.schemes)
    at_tab, train_tab = ui.tabs(["At initialization (no training)", "During training"])
    with at_tab:
        at_init_tab(net)
    with train_tab:
        training_tab(net)


main()
links.finish_page()
