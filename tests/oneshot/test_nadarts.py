import numpy as np
import pytest
import torch

from archscout.exceptions import ArchscoutError
from archscout.nn._supernet import NB201Supernet
from archscout.oneshot._base import SearchState, get_method, get_profile
from archscout.oneshot._nadarts import NADarts, NADartsConfig, neighbour_mixture

from .conftest import TINY


@pytest.mark.parametrize("shape", [(6, 5), (2, 14, 8)])
def test_perturbation_changes_exactly_one_row_and_stays_on_the_simplex(shape):
    g = torch.Generator().manual_seed(0)
    seen_rows = set()
    for _ in range(100):
        probs = torch.randn(shape, generator=g).mul(2).softmax(-1)
        mixed, row, op = neighbour_mixture(probs, 0.5, g)
        flat, mflat = probs.reshape(-1, shape[-1]), mixed.reshape(-1, shape[-1])
        changed = (flat != mflat).any(-1).nonzero().flatten().tolist()
        assert changed == [row] and op != int(flat[row].argmax())
        expect = 0.5 * flat[row] + 0.5 * torch.nn.functional.one_hot(torch.tensor(op), shape[-1])
        assert torch.allclose(mflat[row], expect)
        assert bool((mixed >= 0).all()) and torch.allclose(mixed.sum(-1), torch.ones(shape[:-1]))
        seen_rows.add(row)
    assert len(seen_rows) > 3


def test_neighbour_loss_gives_alpha_a_gradient():
    torch.manual_seed(0)
    net = NB201Supernet(C=4, N=1)
    state = SearchState(net, NADartsConfig(neighbours=3), torch.optim.SGD(net.parameters(), lr=0.1))
    m = NADarts()
    m.init_arch(state)
    state.generator = torch.Generator().manual_seed(0)
    before = state.alpha.detach().clone()
    stats = m.arch_step(state, torch.randn(8, 3, 8, 8), torch.randint(10, (8,)))
    assert bool((state.alpha.grad != 0).all()) and not torch.equal(before, state.alpha.detach())
    assert all(p.grad is None for p in net.parameters()) and stats.seen == 8
    assert m.epoch_record(state)["neighbour_gap"] == pytest.approx(stats.loss - m._sums[0])


def test_config_validation_and_profiles():
    cfg = get_profile("nadarts", "cpu")
    assert isinstance(cfg, NADartsConfig) and (cfg.neighbours, cfg.rho, cfg.epochs) == (2, 0.5, 10)
    assert get_profile("nadarts", "paper").epochs == 50
    for bad in ({"rho": 0.0}, {"rho": 1.5}, {"neighbours": -1}):
        with pytest.raises(ArchscoutError):
            get_profile("nadarts", "cpu", **bad)


def test_end_to_end_records_entropy_and_gap(digits):
    cfg = get_profile("nadarts", "cpu", **TINY)
    a = get_method("nadarts").search("nb201", digits, cfg)
    b = get_method("nadarts").search("nb201", digits, cfg)
    assert np.array_equal(a.distribution, b.distribution) and a.arch == b.arch  # reproducible
    assert a.distribution.shape == (6, 5) and np.allclose(a.distribution.sum(-1), 1.0)
    for h in a.history:
        assert {"entropy", "center_loss", "neighbour_gap", "arch_loss"} <= set(h) and np.isfinite(h["neighbour_gap"])
    # without neighbours it is exactly DARTS first order
    plain = get_method("nadarts").search("nb201", digits, get_profile("nadarts", "cpu", **TINY, neighbours=0))
    darts = get_method("darts").search("nb201", digits, get_profile("darts", "cpu", **TINY))
    assert np.array_equal(plain.distribution, darts.distribution)
    assert not np.array_equal(plain.distribution, a.distribution)


def test_cost_target_and_resume(digits, raspi4, tmp_path):
    cfg = get_profile("nadarts", "cpu", **{**TINY, "epochs": 2})
    cost = raspi4.with_target(5.0, weight=2.0)
    full = get_method("nadarts").search("nb201", digits, cfg, cost=cost)
    assert full.cost["meets_target"] and full.history[0]["expected_cost"] > 0

    class Killed(Exception):
        pass

    def kill(rec):
        raise Killed

    with pytest.raises(Killed):
        get_method("nadarts").search("nb201", digits, cfg, cost=cost, run_dir=tmp_path, on_epoch=kill)
    resumed = get_method("nadarts").search("nb201", digits, cfg, cost=cost, run_dir=tmp_path)
    assert np.array_equal(resumed.distribution, full.distribution)
    strip = [{k: v for k, v in h.items() if k != "seconds"} for h in full.history]
    assert [{k: v for k, v in h.items() if k != "seconds"} for h in resumed.history] == strip
