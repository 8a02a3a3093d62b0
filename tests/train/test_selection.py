"""Model selection rules on hand-made records: what each picks, and that the default rule cannot
read the test domain."""

import pytest

from archscout.exceptions import ArchscoutError, UnknownNameError
from archscout.train import get_rule, leave_one_domain_out, oracle, select_epoch, training_domain
from helpers import one_line


def rec(epoch, val, test, test_out=None):
    return {"epoch": epoch, "val": val, "test": test, "test_out": test_out if test_out is not None else test}


HISTORY = [
    rec(1, {"a": 50.0, "b": 60.0}, {"t": 90.0}),
    rec(2, {"a": 80.0, "b": 70.0}, {"t": 10.0}),  # best on the training domains
    rec(3, {"a": 70.0, "b": 75.0}, {"t": 40.0}),
    rec(4, {"a": 60.0, "b": 60.0}, {"t": 95.0}),  # best on the test domain
]


def test_training_domain_picks_the_best_mean_held_out_accuracy():
    assert training_domain([r["val"] for r in HISTORY]) == 2
    assert select_epoch("training-domain", HISTORY) == 2


def test_ties_go_to_the_earliest_epoch():
    assert training_domain([{"a": 1.0}, {"a": 3.0}, {"a": 3.0}]) == 2
    assert oracle([{"t": 5.0}, {"t": 5.0}]) == 1


def test_oracle_reads_the_test_domain_held_out_part():
    assert select_epoch("oracle", HISTORY) == 4
    assert get_rule("oracle").label == "oracle (test-domain)"
    history = [rec(1, {"a": 1.0}, {"t": 99.0}, {"t": 10.0}), rec(2, {"a": 1.0}, {"t": 1.0}, {"t": 20.0})]
    assert select_epoch("oracle", history) == 2  # the held-out part, not the full test domain


def test_leave_one_domain_out_averages_the_held_out_runs():
    assert leave_one_domain_out({"a": [10.0, 50.0, 40.0], "b": [90.0, 40.0, 70.0]}) == 3
    lodo = {"a": [{"val": {"a": v}} for v in (10.0, 50.0, 40.0)], "b": [{"val": {"b": v}} for v in (90.0, 40.0, 70.0)]}
    assert select_epoch("leave-one-domain-out", HISTORY, lodo) == 3
    with pytest.raises(ArchscoutError, match="different epoch counts"):
        leave_one_domain_out({"a": [1.0, 2.0], "b": [1.0]})
    with pytest.raises(ArchscoutError, match="extra runs"):
        select_epoch("leave-one-domain-out", HISTORY)


class Sealed(dict):
    """A record whose test-domain fields raise when read."""

    def __getitem__(self, key):
        if key.startswith("test"):
            raise AssertionError(f"the selection rule read {key!r}")
        return super().__getitem__(key)

    def get(self, key, default=None):
        return self[key] if key in self else default

    def values(self):
        raise AssertionError("the selection rule iterated over the whole record")

    items = values


def test_default_rule_never_reads_the_test_domain():
    sealed = [Sealed(r) for r in HISTORY]
    assert select_epoch("training-domain", sealed) == 2
    with pytest.raises(AssertionError, match="read 'test_out'"):
        select_epoch("oracle", sealed)


@pytest.mark.parametrize("seed", range(5))
def test_adversarial_test_accuracies_do_not_move_the_default_choice(seed):
    import random

    rng = random.Random(seed)
    val = [{"a": rng.uniform(0, 100), "b": rng.uniform(0, 100)} for _ in range(8)]
    chosen = training_domain(val)
    for _ in range(20):  # test figures that peak anywhere, including exactly where they hurt most
        test = [{"t": rng.uniform(0, 100)} for _ in val]
        test[chosen - 1] = {"t": 0.0}
        history = [rec(i + 1, v, t) for i, (v, t) in enumerate(zip(val, test))]
        assert select_epoch("training-domain", history) == chosen


def test_unknown_rule_is_a_one_line_error():
    msg = one_line(UnknownNameError, lambda: get_rule("test-domain"), "unknown selection rule 'test-domain'")
    assert all(n in msg for n in ("training-domain", "leave-one-domain-out", "oracle"))


def test_no_epochs_is_an_error():
    with pytest.raises(ArchscoutError, match="no epoch"):
        training_domain([])
