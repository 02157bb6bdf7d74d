"""Regularization: overfit on purpose, then compare the cures side by side on the same data and seed."""
import altair as alt
import streamlit as st

from cnn_core import OPTIMIZERS, AugmentConfig, OptimizerConfig, TrainConfig
from cnn_core.experiments.regularization import (NEAR_ZERO, REG_MODELS, REG_VARIANTS, Strengths, augmentation_preview,
                                                 early_stop_events, overfit_config, preview_grid,
                                                 regularization_summary, trained_models, validation_minimum,
                                                 variant_configs, weight_histograms, weight_stats)
from pages.common import lessons, links
from pages.common.live import drawn_in_turns
from pages.common.classroom import publish
from pages.common.charts import legend_highlight, step_loss_chart, train_val_facets
from pages.common.errors import friendly_errors
from pages.common.export_buttons import export_downloads
from pages.common.phone import sidebar_settings_hint
from pages.common.live.comparison import Experiment, run_experiment
from pages.common.state import get_dataset
from pages.common.widgets import learning_rate_input, model_picker, seed_input
from pages.common.formulas import show_formula

ui = links.bound(st)  # widgets drawn through `ui` with a key live in the address bar (lesson links)

# Measured on the default setting (benchmarks/teaching_defaults.py --regularization): final val loss 0.494 without,
# 0.399 with dropout, 0.407 with label smoothing; final val acc 89.2 / 89.8 / 91.6 %. The former defaults (weight
# decay, L1) ended within 0.6 points of the baseline. Augmentation teaches most (best 93.4 %) but costs ~4x the time.
DEFAULT_VARIANTS = ["none", "dropout", "label-smoothing"]


def sidebar_setting() -> TrainConfig:
    """Network, data size, epochs, batch, optimizer and seed: the baseline run that overfits."""
    sb = ui.sidebar
    sb.header("A setting that overfits")
    model = model_picker("reg_model", sb, list(REG_MODELS), label="Network",
                         help="The MLP (269k weights) memorizes 1,000 images quickly; LeNet-5 (62k weights, shared "
                              "convolution kernels) overfits much less: weight sharing is itself a regularizer.")
    per_class = sb.slider("Training images per class", 20, 400, 100, 10, key="reg_per_class",
                          help="Few images = easy to memorize. Validation (500 images) stays the same.")
    epochs = sb.slider("Epochs", 5, 60, 20, key="reg_epochs", help="Enough epochs for the validation loss to turn up.")
    batch_size = sb.select_slider("Batch size", [16, 32, 64, 128], 64, key="reg_batch")
    opt = sb.selectbox("Optimizer", ["adam", "momentum", "sgd"], key="reg_opt",
                       format_func=lambda k: OPTIMIZERS[k].label)
    lr = learning_rate_input(f"reg_lr_{opt}", opt, sb)
    seed = seed_input("reg_seed", sb, max_value=10_000)
    return overfit_config(model, per_class, epochs, batch_size, OptimizerConfig(opt, lr=lr), seed)


def pick_strengths() -> Strengths:
    """The strength of each regularizer, in an expander."""
    d = Strengths()
    with ui.expander("Strength of each regularizer", expanded=False):
        cols = ui.columns(4)
        weight_decay = cols[0].number_input("weight_decay λ", 0.0, 1.0, d.weight_decay, format="%.4f", key="reg_wd")
        adamw_decay = cols[0].number_input("AdamW λ", 0.0, 1.0, d.adamw_decay, format="%.3f", key="reg_adamw",
                                           help="AdamW shrinks by lr·λ per step, so it needs a much larger λ.")
        l2_penalty = cols[1].number_input("L2 penalty λ", 0.0, 1.0, d.l2_penalty, format="%.5f", key="reg_l2",
                                          help="λ/2 of weight_decay gives the same gradient (λ·Σw² has gradient 2λw).")
        l1 = cols[1].number_input("L1 penalty λ", 0.0, 1.0, d.l1, format="%.5f", key="reg_l1")
        dropout = cols[2].slider("Dropout p", 0.05, 0.8, d.dropout, 0.05, key="reg_dropout",
                                 help="In the MLP after each hidden layer; in LeNet-5 before F6 and before the output.")
        patience = cols[2].slider("Early-stopping patience (epochs)", 1, 10, d.patience, key="reg_patience")
        smoothing = cols[2].slider("Label smoothing ε", 0.05, 0.4, d.label_smoothing, 0.05, key="reg_smoothing")
        shift = cols[3].slider("Augment: max shift (pixels)", 0, 6, d.augment.shift, key="reg_shift")
        rotate = cols[3].slider("Augment: max rotation (°)", 0, 45, int(d.augment.rotate), key="reg_rotate")
        min_scale = cols[3].slider("Augment: min zoom (crop)", 0.6, 1.0, d.augment.min_scale, 0.05, key="reg_scale")
        hflip = cols[3].checkbox("Augment: horizontal flips", False, key="reg_hflip",
                                 help="Wrong for digits (a flipped 3 is no 3): try it and watch the accuracy.")
    return Strengths(weight_decay, adamw_decay, l2_penalty, l1, dropout,
                     AugmentConfig(shift=shift, rotate=float(rotate), min_scale=min_scale, hflip=hflip),
                     patience, smoothing)


def l2_explainer(names: list[str]) -> None:
    """Weight decay in the optimizer vs an explicit L2 penalty vs AdamW."""
    with ui.expander("L2 as weight decay or as a penalty: what is the difference?",
                     expanded=bool({"weight-decay", "l2-penalty", "adamw"} & set(names))):
        st.markdown("**Explicit penalty**: add $\\lambda\\sum w^2$ (conv and linear weights, not biases) to the "
                    "loss; its gradient $2\\lambda w$ joins the data gradient.")
        show_formula(r"\tilde L = L + \lambda \sum_i w_i^2 \qquad \nabla \tilde L = \nabla L + 2\lambda w")
        st.markdown("**weight_decay in the optimizer** (coupled): PyTorch adds $\\lambda w$ to every parameter's "
                    "gradient, biases included. For SGD that *is* the penalty $\\tfrac{\\lambda}{2}\\|w\\|^2$: every "
                    "step also shrinks the weights by the factor $(1-\\eta\\lambda)$.")
        show_formula(r"w \leftarrow w - \eta(\nabla L + \lambda w) = (1 - \eta\lambda)\,w - \eta \nabla L")
        st.markdown("With **Adam** the added $\\lambda w$ is divided by $\\sqrt{\\hat v}$ like the rest of the "
                    "gradient, so weights with large gradients are barely decayed. **AdamW** decouples the decay: "
                    "it shrinks every weight by $\\eta\\lambda w$ outside Adam's scaling. With Adam (or SGD), "
                    "weight_decay λ and an L2 penalty λ/2 give almost the same run: try both.")
        show_formula(r"\text{AdamW:}\quad w \leftarrow w - \eta\left(\frac{\hat m}{\sqrt{\hat v} + \epsilon}"
                 r" + \lambda w\right)")


def augmentation_box(base: TrainConfig, augment: AugmentConfig, names: list[str]) -> None:
    """Original training images next to random augmented copies."""
    with ui.expander("What augmentation does to the training images", expanded="augment" in names):
        with friendly_errors("Augmentation preview"):
            data = get_dataset(base.dataset, base.per_class)
            images, augmented, labels = augmentation_preview(data, augment, n_images=4, copies=7, seed=base.seed)
            st.image(preview_grid(images, augmented).numpy(), width=420,
                     caption=f"Left: original training images (labels {', '.join(map(str, labels.tolist()))}); "
                             "right: random augmented copies. Each epoch draws new ones; the label stays the same.", alt=(f"Left: original training images (labels {', '.join(map(str, labels.tolist()))}); "
                             "right: random augmented copies. Each epoch draws new ones; the label stays the same."))


def live_chart(experiment: Experiment) -> alt.Chart:
    """Train vs validation loss per variant while training (step losses until the first epoch ends)."""
    frame = experiment.frame()
    if frame.empty or not (frame["split"] == "val").any():
        return step_loss_chart(frame, smoothing=0.6)
    return train_val_facets(frame, "loss", columns=2, marks=early_stop_events(experiment.histories))


def show_overfitting(experiment: Experiment, base: TrainConfig) -> None:
    """Where the baseline's validation loss turned up while its training loss kept falling."""
    baseline = next((label for label, cfg in experiment.configs.items() if cfg == base), None)
    if baseline and experiment.histories.get(baseline):
        m = validation_minimum(experiment.histories[baseline])
        if m["rise"] > 0:
            st.markdown(f"**{baseline}**: the validation loss was lowest at epoch {m['min_epoch']} "
                        f"({m['min_val_loss']:.3f}) and rose by {m['rise_fraction']:.0%} to {m['final_val_loss']:.3f} "
                        f"while the training loss kept falling by {m['train_loss_drop']:.3f}: overfitting.")


def show_summary(experiment: Experiment) -> None:
    """Best accuracy, minimum validation loss and the final gaps per variant."""
    table = regularization_summary(experiment.histories)
    num = st.column_config.NumberColumn
    st.dataframe(table[["run", "status", "epochs", "best_val_acc", "best_epoch", "min_val_loss", "min_val_loss_epoch",
                        "final_gap", "final_acc_gap"]], hide_index=True, width="stretch",
                 column_config={"best_val_acc": num("best val acc", format="%.3f"), "best_epoch": num("best at"),
                                "min_val_loss": num("min val loss", format="%.3f"), "min_val_loss_epoch": num("min at"),
                                "final_gap": num("loss gap", format="%.3f"),
                                "final_acc_gap": num("acc gap", format="%.3f")})
    st.caption("best at / min at: the epoch of the best validation accuracy / lowest validation loss. Loss gap = "
               "validation loss − training loss at the last epoch; acc gap = training − validation accuracy. "
               "A regularizer should shrink both gaps and raise the best validation accuracy.")


def weights_section(experiment: Experiment, base: TrainConfig) -> None:
    """Distribution and norms of the trained weights per variant."""
    st.subheader("Weights after training")
    models = trained_models(experiment.configs, experiment.states, get_dataset(base.dataset, base.per_class))
    if not models:
        return
    pick, opacity = legend_highlight("run")
    st.altair_chart(alt.Chart(weight_histograms(models), title="Distribution of |w| (conv and linear weights)")
                    .mark_line(interpolate="step-after")
                    .encode(x=alt.X("left:Q", title="|w| (log scale; the first bin holds |w| < 1e-6)",
                                    axis=alt.Axis(labelExpr="'1e' + datum.value", tickMinStep=1)),
                            y=alt.Y("fraction:Q", title="fraction of weights", axis=alt.Axis(format="%")),
                            color=alt.Color("run:N", sort=list(models)), opacity=opacity,
                            tooltip=["run", alt.Tooltip("fraction:Q", format=".1%")])
                    .add_params(pick).properties(height=280), width="stretch")
    num = st.column_config.NumberColumn
    left, right = ui.columns([3, 2])
    left.dataframe(weight_stats(models)[["run", "l2_norm", "mean_abs", "near_zero"]], hide_index=True,
                   column_config={"near_zero": num(f"|w| < {NEAR_ZERO:g}", format="percent"),
                                  "l2_norm": num("‖w‖₂", format="%.2f"), "mean_abs": num("mean |w|", format="%.4f")})
    right.caption("L2 (weight decay or penalty) makes the weights smaller (a lower ‖w‖₂); L1 pushes many "
                  "of them to practically zero (sparse). Dropout and augmentation act on the data and units, "
                  "not directly on the weights.")


def show_results(experiment: Experiment, configs: dict, base: TrainConfig) -> None:
    """Train/validation curves, the overfitting note, the summary and the weights."""
    if experiment.configs != configs:
        st.caption("These results are from your last run; the settings have changed since. Train again to update.")
    with friendly_errors("Drawing the results"):
        frame = experiment.frame()
        if not (frame["split"] == "val").any():
            st.warning("No epoch has finished yet: train again and let it run for at least one epoch.")
            return
        metric = ui.radio("Curves of", ["loss", "accuracy"], horizontal=True, key="reg_metric")
        st.altair_chart(train_val_facets(frame, metric, columns=2, marks=early_stop_events(experiment.histories)))
        st.caption("Blue: training, orange: validation, shaded: the gap between them. Green rules: where early "
                   "stopping stopped (dashed) and the best epoch whose weights it restored. Label smoothing's "
                   "training loss includes the smoothing, so it stays above 0.")
        show_overfitting(experiment, base)
        show_summary(experiment)
        publish.publish_experiment(experiment, "6_Regularization.py", "regularization", key="reg_pub")
        export_downloads(experiment.configs, "regularization_comparison", key="reg_export")
        weights_section(experiment, base)


@drawn_in_turns
def main() -> None:
    """Title, the setting, the variants, and the side-by-side run."""
    st.set_page_config(page_title="Regularization", page_icon="🛡️", layout="wide")
    links.start_page()
    st.title("🛡️ Regularization")
    st.markdown(
        "The lecture's **Regularization** section as an experiment. A network with many parameters and few "
        "training images **memorizes** them: the training loss keeps falling while the validation loss turns up "
        "(overfitting; the shaded gap grows). Regularizers trade a little training fit for better generalization. "
        "Here each variant switches on exactly one of them; all runs share the data, the seed and the batch order. "
        "The network and the training settings are in the sidebar; the variants are below."
    )
    sidebar_settings_hint()
    lessons.exercise_panel("6_Regularization.py")
    base = sidebar_setting()
    names = ui.multiselect("Variants to compare (2 to 6)", list(REG_VARIANTS), max_selections=6, key="reg_variants",
                           default=DEFAULT_VARIANTS, format_func=lambda k: REG_VARIANTS[k].label)
    strengths = pick_strengths()
    for name in names:
        st.caption(f"**{REG_VARIANTS[name].label}**: {REG_VARIANTS[name].explanation}")
    l2_explainer(names)
    augmentation_box(base, strengths.augment, names)
    if len(names) < 2:
        st.warning("Pick at least two variants (for example 'No regularization' and one regularizer).")
        return
    configs = {}
    with friendly_errors("Setting up the variants"):
        configs = variant_configs(base, names, strengths)
    start = st.button("▶ Train the variants side by side", key="reg_start", type="primary", disabled=not configs)
    experiment = run_experiment(configs, key="reg_experiment", start=start and bool(configs), live_chart=live_chart)
    if experiment is None:
        st.info("Press the button to train. The defaults take a few seconds on a laptop CPU; finished runs are "
                "cached, so going back to a setting is instant.")
        return
    show_results(experiment, configs, base)


main()
links.finish_page()
