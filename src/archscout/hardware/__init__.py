"""Hardware cost: HW-NAS-Bench tables (NB201) and LUTs (FBNet), HELP devices, counting; a device registry."""

from archscout.exceptions import UnknownNameError
from archscout.hardware import _devices  # noqa: F401  (registers the devices)
from archscout.hardware._base import (
    DEVICES, CostModel, Device, MetricInfo, get_device, list_devices, metric_info, register_device,
    resolve_metric,
)
from archscout.hardware._counting import count_macs, count_params, fbnet_params_macs, nb201_params_macs
from archscout.hardware._fbnet import FBNetLUT
from archscout.hardware._measure import BACKENDS as MEASURE_BACKENDS
from archscout.hardware._measure import MeasurementTable, device_fingerprint, measure_latency
from archscout.hardware import _measured
from archscout.hardware._measured import (import_table, load_measured_devices, measure_archs, measure_fbnet_lut,
                                         measured_table, measurements_root, read_latency_table)
from archscout.hardware._nb201 import NB201Bench
from archscout.hardware._predictors import (PREDICTORS, AdditivePredictor, FewShotPredictor, FlopsPredictor,
                                             GBMPredictor, LinearPredictor, StackedPredictor, StructurePredictor,
                                             fewshot_reference, get_predictor, list_predictors)
from archscout.hardware._predictors import evaluate as evaluate_predictor

_COST_MODELS = {"nb201": NB201Bench, "fbnet": FBNetLUT}
_cache: dict[tuple[str, str], tuple[int, CostModel]] = {}


def get_cost_model(space: str, dataset: str) -> CostModel:
    """The (cached) tabular cost model of a space on a dataset, e.g. ``get_cost_model("nb201", "cifar10")``."""
    if space not in _COST_MODELS:
        raise UnknownNameError("space", space, _COST_MODELS)
    key = (space, dataset)
    if key not in _cache or _cache[key][0] != _measured.version:  # a device was measured since: rebuild
        model = _COST_MODELS[space](dataset)
        _cache[key] = (_measured.version, model)
    return _cache[key][1]


__all__ = [
    "DEVICES", "CostModel", "Device", "FBNetLUT", "MetricInfo", "NB201Bench", "count_macs", "count_params",
    "fbnet_params_macs", "get_cost_model", "get_device", "list_devices", "metric_info", "nb201_params_macs",
    "register_device", "resolve_metric", "PREDICTORS", "AdditivePredictor", "FewShotPredictor", "FlopsPredictor",
    "GBMPredictor", "LinearPredictor", "StackedPredictor", "StructurePredictor", "evaluate_predictor", "get_predictor",
    "list_predictors", "fewshot_reference", "import_table", "read_latency_table",
    "MEASURE_BACKENDS", "MeasurementTable", "device_fingerprint", "load_measured_devices", "measure_archs",
    "measure_fbnet_lut", "measure_latency", "measured_table", "measurements_root",
]
