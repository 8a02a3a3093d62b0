"""Datasets with domains (environments), shift suites generated from them, and the splits that
out-of-distribution results are reported on."""

from archscout.data._domains import DatasetError, DatasetWarning, Domain, DomainData, Split, holdout
from archscout.data._folder import IMAGE_EXTENSIONS, KNOWN_DATASETS, MODES, FolderDataset, load_folder, scan_folder
from archscout.data._load import load_split, open_folder
from archscout.data._shift_metrics import ShiftMetricsConfig, ShiftMetricWarning, ShiftResult, measure_shift
from archscout.data._sources import FASHION_CLASSES, load_digits, load_fashion_mnist, parse_idx
from archscout.data._suites import SUITES, DomainSpec, ShiftSuite, get_suite, list_suites, register_suite

__all__ = [
    "DatasetError", "DatasetWarning", "Domain", "DomainData", "DomainSpec", "FASHION_CLASSES", "FolderDataset", "get_suite",
    "holdout", "IMAGE_EXTENSIONS", "KNOWN_DATASETS", "list_suites", "MODES", "load_digits", "load_fashion_mnist",
    "load_folder", "load_split", "open_folder", "measure_shift", "parse_idx", "register_suite", "scan_folder",
    "ShiftMetricsConfig", "ShiftMetricWarning", "ShiftResult", "ShiftSuite", "Split", "SUITES"
]
