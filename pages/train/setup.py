"""The Train page's setup: its session-state keys and the sidebar that builds one TrainConfig."""
from __future__ import annotations

from dataclasses import replace

import streamlit as st

from cnn_core import (DATASETS, INIT_SCHEMES, LOSSES, MODELS, OPTIMIZERS, SCHEDULES, AugmentConfig, InvalidConfig,
                      ModelOptions, OptimizerConfig, RegularizationConfig, ScheduleConfig, TrainConfig)
from cnn_core.training.config import check_custom_network
from cnn_core.training.tensorboard import runs_dir
from pages.common import links

from pages.common.session_keys import CUSTOM_ARCHITECTURE
from pages.common.state import get_dataset

ui = links.bound(st)  # widgets drawn through `ui` with a key live in the address bar (lesson links)

# st.session_state keys of the Train page: its run (a TrainingRun), TensorBoard folder, checkpoint snapshot,
# sanity-check results, the checkpoints it published to Layer Visualization, the decoded upload (sha256, ...)
RUN, LOG_DIR, SNAPSHOT, SANITY, PUBLISHED = "train_run", "train_log_dir", "train_snapshot", "train_sanity", "train_pub"
UPLOADED = "train_uploaded"
CUSTOM = "custom-session"  # the model choice "the network built on the Architecture page"


def setup() -> TrainConfig | None:
    """The sidebar's widgets as one TrainConfig (None, with a message, when it cannot train)."""
    sb = ui.sidebar
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
        dropout = ui.slider("Dropout in the classifier", 0.0, 0.8, 0.0, 0.05, key="tr_dropout",
                            disabled=model == CUSTOM)
        batch_norm = ui.checkbox("Batch normalization", key="tr_bn", disabled=model == CUSTOM)
        l2 = ui.number_input("L2 penalty in the loss", 0.0, 0.1, 0.0, format="%.5f", key="tr_l2")
        smoothing = ui.slider("Label smoothing", 0.0, 0.5, 0.0, 0.05, key="tr_smoothing",
                              help="Used by the cross-entropy loss (the 'label smoothing' loss uses 0.1 if 0).")
        shift = ui.slider("Augment: random shift (pixels)", 0, 4, 0, key="tr_shift")
        rotate = ui.slider("Augment: random rotation (degrees)", 0, 30, 0, key="tr_rotate")
        patience = ui.number_input("Early stopping patience (epochs, 0 = off)", 0, 20, 0, key="tr_patience")
    batch_size = sb.select_slider("Batch size", [8, 16, 32, 64, 128, 256, 512], 64, key="tr_batch")
    epochs = sb.slider("Epochs", 1, 50, 3, key="tr_epochs")
    seed = sb.number_input("Seed", 0, 2**31 - 1, 0, key="tr_seed")
    sb.checkbox("Write a TensorBoard log", key="tr_tensorboard",
                help=f"Each run writes scalars, histograms, images, the graph and hyper-parameters to {runs_dir()}.")
    if model == CUSTOM:
        specs, shape = custom
        data = get_dataset(dataset, per_class or None)
        try:
            check_custom_network(specs, shape, data.image_shape, data.num_classes, DATASETS[dataset].label)
        except InvalidConfig as exc:
            st.error(str(exc))
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
