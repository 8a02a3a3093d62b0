"""archscout: hardware-aware, shift-robust neural architecture search.

Entry points: ``create_space``/``list_spaces`` (search spaces), ``get_cost_model``/``list_devices``
(hardware cost tables), ``count_params``/``count_macs`` (any PyTorch model).
"""

from archscout.exceptions import ArchscoutError, DataIntegrityError, InvalidArchError, UnknownNameError
from archscout.hardware import count_macs, count_params, get_cost_model, get_device, list_devices
from archscout.spaces import Arch, get_space, list_spaces

create_space = get_space

__version__ = "0.1.0"

__all__ = [
    "Arch", "ArchscoutError", "DataIntegrityError", "InvalidArchError", "UnknownNameError", "count_macs",
    "count_params", "create_space", "get_cost_model", "get_device", "get_space", "list_devices", "list_spaces",
]
