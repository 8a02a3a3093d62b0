"""Learned spaces are SearchSpaces: strategies, training, one-shot search, files, the hand-made space."""

import numpy as np
import optuna
import pytest
import torch

from archscout.autospace import (REFERENCE_CELL, FBNetSmallSpace, LearnedSpace, SmallOneShotConfig, mutate_cell,
                                 most_probable_within, oneshot_search, register_learned)
from archscout.data import load_split
from archscout.exceptions import ArchscoutError, InvalidArchError
from archscout.hardware import count_macs
from archscout.spaces import get_space


@pytest.fixture(scope="module")
def space():
    rng = np.random.default_rng(0)
    cells = [[REFERENCE_CELL, mutate_cell(REFERENCE_CELL, rng), mutate_cell(REFERENCE_CELL, rng)] for _ in range(4)]
    return register_learned(LearnedSpace(cells, name="test-learned"))


@pytest.fixture(scope="module")
def data():
    return load_split("digits-shift", "correlation", per_domain=40)


def test_search_space_protocol(space, tmp_path):
    rng = np.random.default_rng(1)
    a = space.sample(rng)
    assert space.from_str(space.to_str(a)) == a and str(a) == space.to_str(a)
    assert space.mutate(a, rng) in space.neighbours(a) and len(space.neighbours(a)) == 8
    assert space.encode(a).shape == (12,) and space.features(a).shape == (12 + 16,)
    assert space.macs(a) == count_macs(space.build(a), (1, 3, 16, 16))
    with pytest.raises(InvalidArchError, match="unknown choice"):
        space.from_str("c0 c0 c0 c9")
    path = space.save(tmp_path / "s.json")
    again = LearnedSpace.load(path)
    assert again.name == "test-learned" and get_space("test-learned") is again
    with pytest.raises(ArchscoutError, match="does not exist"):
        LearnedSpace.load(tmp_path / "missing.json")
    assert space.draw(tmp_path / "s.png") is not None and (tmp_path / "s.png").exists()


@pytest.mark.parametrize("strategy", ["random", "rea", "ls", "optuna-tpe"])
def test_every_multi_trial_strategy_runs_in_it(space, strategy):
    from archscout.strategies import make_sampler

    sampler = make_sampler(strategy, space, seed=0)
    study = optuna.create_study(sampler=sampler, direction="minimize")
    score = {a.ops: float(np.sum(a.ops) + 0.1 * i) for i, a in enumerate(space.all_archs())}
    dists = {n: optuna.distributions.CategoricalDistribution(list(range(k)))
             for n, k in zip(space.param_names, space.choices)}

    def objective(trial):
        ops = tuple(trial.suggest_categorical(n, list(range(k))) for n, k in zip(space.param_names, space.choices))
        return score[ops]

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study.optimize(objective, n_trials=12)
    assert len(study.trials) == 12 and study.best_value < np.mean(list(score.values()))
    for t in study.trials:  # every trial is an arch of the space, scored as that arch
        ops = tuple(t.params[n] for n in space.param_names)
        assert t.distributions == dists and space.make(list(ops)).ops == ops and t.value == score[ops]


@pytest.mark.parametrize("method", ["darts", "gdas"])
def test_oneshot_search_respects_the_madds_limit(space, data, method):
    limit = sorted(space.macs(a) for a in space.all_archs())[10]
    res = oneshot_search(space, data, SmallOneShotConfig(method=method, epochs=1, batch_size=16, train_images=48,
                                                         val_images=48), max_macs=limit)
    assert res["macs"] <= limit and len(res["probs"]) == 4
    assert all(abs(sum(p) - 1) < 1e-6 for p in res["probs"])


def test_training_a_learned_arch_with_archscout_train(space, data):
    from archscout.train import TrainConfig, train

    r = train("test-learned", space.sample(0), data, TrainConfig(epochs=1, batch_size=32, threads=1))
    assert 0 <= r.ood_acc <= 100 and r.space == "test-learned"


def test_hand_made_space_and_enumerated_derivation():
    sp = get_space("fbnet-small")
    assert isinstance(sp, FBNetSmallSpace) and sp.choices == (9, 9, 9, 9)
    a = sp.from_str("k3_e1 k5_e6 skip k3_e3")
    assert sp.macs(a) == count_macs(sp.build(a), (1, 3, 16, 16))
    probs = [np.eye(9)[7] * 0.9 + 0.1 / 9 for _ in range(4)]  # k5_e6 most probable everywhere
    limit = sp.macs(sp.make([0, 0, 0, 0]))
    got = most_probable_within(sp, probs, limit)
    assert sp.macs(got) <= limit
    assert most_probable_within(sp, probs, None).ops == (7, 7, 7, 7)
    with pytest.raises(ArchscoutError, match="fits"):
        most_probable_within(sp, probs, 10)
    assert sp.build(a)(torch.zeros(1, 3, 16, 16)).shape == (1, 10)


def test_learned_spaces_meet_the_search_space_contract(space):
    from archscout.autospace._tabular import NB201SubsetSpace

    for sp in (space, NB201SubsetSpace([[3, 2], [1, 2], [0, 2], [1, 3], [2, 0], [2, 3]])):
        rng = np.random.default_rng(0)
        for _ in range(5):
            arch = sp.sample(rng)
            assert sp.from_str(sp.to_str(arch)) == arch and sp.parse(arch) is arch
            child = sp.mutate(arch, rng)
            assert child != arch and child in sp.neighbours(arch)
            assert sp.encode(arch).shape == (sum(sp.choices),)
        with pytest.raises(InvalidArchError):
            sp.make([True] * len(sp.choices))
        assert sp.sample(3) == sp.sample(3) and len(sp.param_names) == len(sp.choices)
