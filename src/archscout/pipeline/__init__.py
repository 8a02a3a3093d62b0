"""The main job (``archscout search``): a search under a latency budget on a named device, the
derived arch trained from scratch and evaluated out of distribution, baselines under the same training
config, a verified ONNX export and a self-contained HTML report, in one resumable run directory.

Example:
    >>> from archscout.pipeline import MainJobConfig, run_main_job
    >>> job = run_main_job(MainJobConfig(suite="digits-shift", method="gdas", profile="smoke"))  # doctest: +SKIP
    >>> job["arch"], job["ood_acc"], job["baselines"][0]["name"]  # doctest: +SKIP
"""

from archscout.pipeline._config import (DEFAULT_DEVICE, DEFAULT_MAX_LATENCY, DEFAULT_SPLIT, DEFAULT_SUITE,
                                        MAIN_PROFILES, RESNET_CELL, MainJobConfig)
from archscout.pipeline._cells import best_cifar10_cell, budget_latency, latency_metrics, random_feasible_cells
from archscout.pipeline._run import STAGES, MainJobResult, run_main_job
from archscout.pipeline._search_stage import diagnostics
from archscout.pipeline._settings import data_size, load_data, search_config, train_config, training_task

__all__ = ["DEFAULT_DEVICE", "DEFAULT_MAX_LATENCY", "DEFAULT_SPLIT", "DEFAULT_SUITE", "MAIN_PROFILES", "RESNET_CELL",
           "STAGES", "MainJobConfig", "MainJobResult", "best_cifar10_cell", "budget_latency", "data_size", "diagnostics",
           "latency_metrics", "load_data", "random_feasible_cells", "run_main_job", "search_config", "train_config",
           "training_task"]
