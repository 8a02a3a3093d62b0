"""The main job's settings: its methods by name, the search and training configs of a profile, the
training evaluator's task, and the data."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from archscout._rundir import RUN_ONLY
from archscout.exceptions import ArchscoutError, UnknownNameError
from archscout.pipeline._config import (CPU_TRAIN, PAPER_IMAGE_SIZE, PAPER_TRAIN, SMOKE_PER_DOMAIN, SMOKE_SEARCH,
                                        SMOKE_TRAIN, MainJobConfig)
from archscout.pipeline._multitrial import SEARCH_METHODS


def _config_fields(cls: type) -> set[str]:
    return {f.name for f in fields(cls)}


def get_method(name: str):
    """A one-shot method by its registered name; a method module not imported by ``archscout.oneshot``
    yet (``archscout/oneshot/_<name>.py``) is imported on first use. Unknown names: one line."""
    import importlib

    from archscout.oneshot import METHODS
    from archscout.oneshot import get_method as lookup

    if isinstance(name, str) and name.isidentifier() and name not in METHODS:
        module = f"archscout.oneshot._{name}"
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
    return lookup(name)


def one_shot_or_unknown(name: str):
    """A one-shot method; a name that is neither kind of search: one line naming both kinds."""
    from archscout.oneshot import list_methods

    try:
        return get_method(name)
    except UnknownNameError:
        raise UnknownNameError("search method", name, [*SEARCH_METHODS.names(), *list_methods()]) from None


def search_config(method: str, config: MainJobConfig, seed: int):
    """The one-shot config of ``method`` under the job's profile (smoke: the cpu profile at tiny sizes
    when the one-shot package has no smoke profile of its own), plus the job's overrides."""
    from archscout.oneshot import PROFILES, get_profile
    from archscout.oneshot import METHODS

    get_method(method)  # registers it if needed
    cls = METHODS.get(method)
    names = _config_fields(cls.config_class)
    overrides: dict[str, Any] = {}
    profile = config.profile
    if profile == "smoke" and "smoke" not in PROFILES:
        profile = "cpu"
        overrides.update({k: v for k, v in SMOKE_SEARCH.items() if k in names})
        # a method's own epoch counts (stages, warm-up) shrink too; its own smoke sizes win
        for f in fields(cls.config_class):
            if f.name.endswith("epochs") and f.name not in overrides and isinstance(f.default, int) and f.default > 1:
                overrides[f.name] = 1
        overrides.update(cls.profiles.get("smoke", {}))
    overrides.update({k: v for k, v in config.search_overrides.items() if k in names})
    unknown = sorted(set(config.search_overrides) - names)
    if unknown:
        raise ArchscoutError(f"search setting(s) {', '.join(unknown)} unknown to {method}'s "
                             f"{cls.config_class.__name__}")
    overrides["seed"] = seed
    overrides.update({k: getattr(config, k) for k in RUN_ONLY if k in names})
    return get_profile(method, profile, **overrides)


def train_config(config: MainJobConfig, seed: int):
    """The TrainConfig every arch (searched and baselines) is trained with."""
    from archscout.train import TrainConfig

    base: dict[str, Any] = {}
    if config.profile == "cpu":
        base.update(CPU_TRAIN)
    elif config.profile == "smoke":
        base.update(SMOKE_TRAIN)
    elif config.profile == "paper":
        base.update(PAPER_TRAIN)
    base.update(config.train_overrides)
    unknown = sorted(set(base) - _config_fields(TrainConfig))
    if unknown:
        raise ArchscoutError(f"training setting(s) {', '.join(unknown)} unknown to TrainConfig")
    return TrainConfig(**{**base, "seed": seed, **{k: getattr(config, k) for k in RUN_ONLY}})


def training_task(*, profile: str | None = None, threads: int | None = None, accelerator: str = "auto",
                  precision: str = "fp32", **data: Any) -> dict[str, Any]:
    """The training evaluator's options for the main job's task at ``profile`` (suite, split, data
    settings and the TrainConfig every arch is trained with): ``--multi-trial --evaluator train``."""
    kwargs = {k: v for k, v in data.items() if v is not None}
    config = MainJobConfig(**kwargs, **({"profile": profile} if profile is not None else {}),
                           **({"threads": threads} if threads is not None else {}), accelerator=accelerator,
                           precision=precision)
    train = strip_run_only(train_config(config, 0).to_dict(), "seed")
    return {"suite": config.suite, "split": config.split or default_split(config), "data_root": config.data_root,
            "data_seed": config.data_seed, "per_domain": data_size(config)[1], "image_size": data_size(config)[0],
            "train": train, **({"image_mode": config.image_mode} if config.image_mode else {}),
            **{k: getattr(config, k) for k in RUN_ONLY}}


def data_size(config: MainJobConfig) -> tuple[int, int | None]:
    """Image size and images per domain of the job's data (the profile's unless given)."""
    size = config.image_size or (PAPER_IMAGE_SIZE if config.profile == "paper" else 16)
    return size, config.per_domain or (SMOKE_PER_DOMAIN if config.profile == "smoke" else None)


def load_data(config: MainJobConfig):
    """The job's domain data: the given or default split; a leave-one-domain-out split needs two or
    more domains (one to hold out, one or more to train on)."""
    from archscout.data import DatasetError, load_split
    from archscout.data import SUITES

    registered = str(config.suite) in SUITES
    split = config.split or default_split(config)
    size, per_domain = data_size(config)
    data = load_split(config.suite, split, seed=config.data_seed, size=size, per_domain=per_domain,
                      root=config.data_root, mode=config.image_mode)
    if not data.split.train or not data.split.test:
        raise DatasetError(f"split {data.split.name!r} of {data.name} needs one or more training and held-out domains")
    if not registered and len(data.domains) < 2:
        raise DatasetError(f"{data.name} has one domain: leave-one-domain-out needs two or more")
    return data


def default_split(config: MainJobConfig) -> str:
    """``style-lodo-noise`` for the shift suites; for a folder, leave its last domain out."""
    from archscout.data import SUITES, open_folder
    from archscout.pipeline._config import DEFAULT_SPLIT

    if str(config.suite) in SUITES:
        return DEFAULT_SPLIT
    ds = open_folder(config.suite, config.data_root)  # one domain only: a one-line error naming the folder
    return f"lodo-{ds.domains[-1]}"


def strip_run_only(d: dict[str, Any], *keys: str) -> dict[str, Any]:
    """A config without what may change when a run resumes (threads, accelerator, precision, workers)."""
    return {k: v for k, v in d.items() if k not in (*RUN_ONLY, "workers", *keys)}
