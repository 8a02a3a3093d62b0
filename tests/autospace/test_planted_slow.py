"""Planted receptive-field task (slow, directional): the label is the orientation of two blobs 7 pixels apart,
which a 2-layer stride-1 net sees only with a large receptive field; cells with dw5x5 edges rise in the
populations (algorithms.md §13.3's planted-op check). Mean over 3 seeds, against the initial populations."""

import numpy as np
import pytest
import torch

from archscout.autospace import EvolveConfig, Population, evolve
from archscout.autospace._cells import Cell, parse_cell
from archscout.data import Domain, DomainData, Split


def blob_pairs(offset: int, n: int = 1200, seed: int = 0) -> DomainData:
    g = torch.Generator().manual_seed(seed)
    x = 0.1 * torch.rand(n, 1, 16, 16, generator=g)
    y = torch.randint(0, 2, (n,), generator=g)
    for i in range(n):
        r, c = (int(v) for v in torch.randint(0, 16 - offset - 1, (2,), generator=g))
        x[i, 0, r:r + 2, c:c + 2] = 1.0
        if y[i] == 0:
            x[i, 0, r:r + 2, c + offset:c + offset + 2] = 1.0
        else:
            x[i, 0, r + offset:r + offset + 2, c:c + 2] = 1.0
    x = x.repeat(1, 3, 1, 1)
    doms = {"a": Domain("a", x[: n // 2], y[: n // 2]), "b": Domain("b", x[n // 2:], y[n // 2:])}
    return DomainData(f"blobs{offset}", ("horizontal", "vertical"), doms, Split("s", ("a",), ("b",)), {})


def share(cells: list[Cell]) -> float:
    return float(np.mean([c.count("dw5x5") > 0 for c in cells]))


@pytest.mark.slow
def test_large_receptive_field_task_raises_dw5x5_cells():
    before, after = [], []
    for seed in range(3):
        cfg = EvolveConfig(widths=(8, 8), strides=(1, 1), iterations=8, steps_per_iter=20, warmup_steps=4,
                           batch_size=32, train_images=300, val_images=300, population=6, threads=1, seed=seed,
                           arch_lr=0.1, ref_anchor=False)
        rng = np.random.default_rng(seed)  # the evolution's own first draws: its initial populations
        init = []
        for _ in cfg.widths:
            pop = Population(cfg.population, parse_cell(cfg.reference))
            pop.initialize(rng, cfg.init, cfg.mutation_kinds)
            init += pop.cells()
        res = evolve(blob_pairs(7, seed=seed), cfg)
        before.append(share(init))
        after.append(share([Cell.from_str(m["cell"]) for p in res.populations for m in p["members"]]))
    assert np.mean(after) > np.mean(before), (before, after)
