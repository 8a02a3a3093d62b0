"""Datasets with domains (environments), shift suites generated from them, and the splits that
out-of-distribution results are reported on."""

from archscout.data._domains import DatasetError, Domain, DomainData, Split, holdout
from archscout.data._folder import IMAGE_EXTENSIONS, KNOWN_DATASETS, FolderDataset, load_folder, scan_folder
from archscout.data._load import load_split
from archscout.data._sources import FASHION_CLASSES, load_digits, load_fashion_mnist, parse_idx
from archscout.data._suites import SUITES, DomainSpec, ShiftSuite, get_suite, list_suites, register_suite

__all__ = ["FASHION_CLASSES", "FolderDataset", "IMAGE_EXTENSIONS", "KNOWN_DATASETS", "load_folder", "scan_folder", "SUITES", "DatasetError", "Domain", "DomainData", "DomainSpec", "ShiftSuite", "Split",
           "get_suite", "holdout", "list_suites", "load_digits", "load_fashion_mnist", "load_split", "parse_idx",
           "register_suite"]
