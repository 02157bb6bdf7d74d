"""Datasets as in-memory tensors, and the IDX reader."""
from .datasets import DATASETS, Dataset, DatasetSpec, default_data_dir, load_dataset, per_class_subset
from .idx import read_idx, write_idx

__all__ = ["DATASETS", "Dataset", "DatasetSpec", "default_data_dir", "load_dataset", "per_class_subset",
           "read_idx", "write_idx"]
