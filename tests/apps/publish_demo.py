"""A page with one linked widget and the publish widget, for tests/test_publish_apptest.py."""
import pandas as pd
import streamlit as st

from pages.common import links
from pages.common.classroom.publish import publish_widget

links.start_page()
lr = links.linked(st.number_input, "Learning rate", 0.0001, 1.0, 0.01, format="%.4f", key="lr")
curves = pd.DataFrame([{"run": "r", "epoch": e, "step": s, "split": "train_step", "metric": "loss",
                        "value": 1.0 / s} for e in range(1, 4) for s in range(e * 1000 - 999, e * 1000 + 1)])
publish_widget("7_Optimizers.py", "optimizers", {"lr": lr, "optimizer": "sgd"}, 3,
               {"val_accuracy": 0.5 + lr, "val_loss": float("nan")}, curves, key="demo_pub")
links.finish_page()
