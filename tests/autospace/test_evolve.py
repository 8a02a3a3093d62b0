"""The evolution loop: population sizes, the budget, resume after an interruption, the MAdds penalty."""


import numpy as np
import pytest
import torch

from archscout.autospace import EvolveConfig, LearnedSpace, evolve
from archscout.autospace._cells import REFERENCE_CELL
from archscout.data import load_split
from archscout.exceptions import ArchscoutError, UnknownNameError
from archscout.spaces import get_space
from helpers import one_line

TINY = dict(iterations=2, steps_per_iter=4, warmup_steps=1, batch_size=16, train_images=64, val_images=64,
            population=5, k_sample=3, top_k=2, threads=1)


@pytest.fixture(scope="module")
def data():
    return load_split("digits-shift", "correlation", per_domain=60)


def test_evolve_budget_sizes_and_learned_space(data, tmp_path):
    ref_total = 3 * 8 * 9 * 256 + 32 * 10 + sum(REFERENCE_CELL.macs(s.c_in, s.c_out, s.h, s.stride)
                                                  for s in EvolveConfig().skeleton.layers())
    budget = 1.3 * ref_total
    res = evolve(data, EvolveConfig(**TINY, budget_madds=budget), run_dir=tmp_path / "run")
    sp = res.space
    assert sp.choices == (2, 2, 2, 2)
    assert all(h["population_sizes"] == [5] * 4 for h in res.history)
    assert max(sp.macs(a) for a in sp.all_archs()) <= budget  # every arch of the learned space fits
    assert get_space(sp.name) is sp  # registered: usable by name
    saved = LearnedSpace.load(tmp_path / "run" / "space.json")
    assert [[c.key() for c in layer] for layer in saved.cells] == [[c.key() for c in layer] for layer in sp.cells]
    net = sp.build(sp.sample(0), num_classes=10)
    assert net(torch.zeros(2, 3, 16, 16)).shape == (2, 10)


def test_resume_after_interruption_matches_uninterrupted(data, tmp_path):
    cfg = EvolveConfig(**{**TINY, "iterations": 3})
    full = evolve(data, cfg, run_dir=tmp_path / "a")
    part = evolve(data, cfg, run_dir=tmp_path / "b", stop_after=1)
    assert len(part.history) == 1 and not (tmp_path / "b" / "space.json").exists()
    rest = evolve(data, cfg, run_dir=tmp_path / "b")
    assert len(rest.history) == 3
    assert [h["top"] for h in rest.history] == [h["top"] for h in full.history]
    assert np.allclose([h["weights_loss"] for h in rest.history], [h["weights_loss"] for h in full.history], atol=1e-4)
    with pytest.raises(ArchscoutError, match="another config"):
        evolve(data, EvolveConfig(**{**TINY, "iterations": 4, "seed": 1}), run_dir=tmp_path / "b")


def test_madds_penalty_moves_top_cells_toward_cheaper(data):
    """With a strong linear penalty the learned cells are cheaper than without (same seed)."""
    base = {**TINY, "iterations": 3, "steps_per_iter": 6, "budget_split": "none", "budget_madds": 300_000,
            "arch_lr": 0.3}
    free = evolve(data, EvolveConfig(**base, lambda_res=0.0)).space
    cheap = evolve(data, EvolveConfig(**base, lambda_res=20.0)).space
    mean = lambda sp: np.mean([m for layer in sp.layer_macs for m in layer])  # noqa: E731
    assert mean(cheap) < mean(free)


@pytest.mark.parametrize("kwargs, text", [
    ({"population": 2, "k_sample": 3}, "cannot exceed"),
    ({"penalty": "cubic"}, "unknown penalty"),
    ({"budget_madds": 1000}, "below what the reference"),
    ({"max_latency": 1.0, "device": "raspi4"}, "only this machine's CPU"),
    ({"budget_madds": 1e6, "max_latency": 1.0, "device": "cpu"}, "not both"),
    ({"mutation_kinds": ("merge",)}, "must include 'op'"),
])
def test_bad_options_are_one_line_errors(data, kwargs, text):
    one_line((ArchscoutError, UnknownNameError), lambda: evolve(data, EvolveConfig(**{**TINY, **kwargs})), text)


def test_cpu_latency_budget_gives_per_layer_caps(data):
    res = evolve(data, EvolveConfig(**{**TINY, "iterations": 1}, device="cpu", max_latency=20.0))
    caps = res.space.info["layer_caps"]
    assert len(caps) == 4 and sum(caps) < 20.0 and res.space.info["cost_kind"] == "latency"


def test_planted_op_rises_through_the_differentiable_fitness(data):
    """Planted task: the resource term makes cells with dw5x5 edges "cheap" (cost 1 - 0.5 per dw5x5 edge). Through
    the real loop (sampling, Eqn-4 steps on a, Eqn-5 write-back, control), dw5x5 cells rise in every layer."""
    cfg = EvolveConfig(**{**TINY, "iterations": 6, "steps_per_iter": 6, "population": 6}, lambda_res=30.0, arch_lr=0.3,
                       ref_anchor=False, p_mut=0.7)
    res = evolve(data, cfg, cost_fn=lambda layer, cell: 1.0 - 0.5 * min(cell.count("dw5x5"), 2))
    tops = [layer for layer in res.space.cells]
    share = np.mean([c.count("dw5x5") > 0 for layer in tops for c in layer])
    assert share >= 0.75, [[c.describe() for c in layer] for layer in tops]
