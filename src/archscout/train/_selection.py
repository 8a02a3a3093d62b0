"""Model selection rules (DomainBed): which epoch's model is reported.

Each rule is a pure function of only the accuracies it may read, and ``select_epoch`` hands it exactly
those: the default rule never receives a test-domain figure, so it cannot leak into the choice. The
oracle rule reads the test domain's held-out part and is labelled so in every output.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from archscout._registry import Registry
from archscout.exceptions import ArchscoutError

PerEpoch = Sequence[Mapping[str, float]]  # per epoch (epoch 1 first): domain -> accuracy


def _best_epoch(scores: Sequence[float]) -> int:
    """1-based epoch of the highest score; the earliest wins a tie (fewer epochs, same figure)."""
    if not scores:
        raise ArchscoutError("no epoch to select from: the run has no per-epoch records")
    return max(range(len(scores)), key=lambda i: (scores[i], -i)) + 1


def _mean(values: Mapping[str, float]) -> float:
    if not values:
        raise ArchscoutError("a selection rule got an epoch without accuracies")
    return sum(values.values()) / len(values)


def training_domain(val: PerEpoch) -> int:
    """Best epoch by mean accuracy over the training domains' held-out (``out``) parts."""
    return _best_epoch([_mean(v) for v in val])


def leave_one_domain_out(heldout: Mapping[str, Sequence[float]]) -> int:
    """Best epoch count by mean accuracy over training domains, each held out of its own extra run.

    ``heldout[d][e - 1]`` is the accuracy on training domain ``d`` after ``e`` epochs of the run trained
    on the other training domains."""
    if not heldout:
        raise ArchscoutError("leave-one-domain-out needs at least one held-out training domain")
    lengths = {len(v) for v in heldout.values()}
    if len(lengths) != 1:
        raise ArchscoutError(f"leave-one-domain-out runs have different epoch counts: {sorted(lengths)}")
    epochs = lengths.pop()
    return _best_epoch([sum(v[e] for v in heldout.values()) / len(heldout) for e in range(epochs)])


def oracle(test_out: PerEpoch) -> int:
    """Best epoch by accuracy on the test domains' held-out parts: the test-domain oracle (an upper
    bound to report beside honest rules, never a model selection method)."""
    return _best_epoch([_mean(v) for v in test_out])


@dataclass(frozen=True)
class SelectionRule:
    """A rule, its label in outputs, and the one record field it may read (``val``, ``lodo`` or ``test_out``)."""

    name: str
    label: str
    reads: str
    fn: Callable[[Any], int]


SELECTION_RULES: Registry[SelectionRule] = Registry("selection rule")
for _rule in (SelectionRule("training-domain", "training-domain validation", "val", training_domain),
              SelectionRule("leave-one-domain-out", "leave-one-domain-out", "lodo", leave_one_domain_out),
              SelectionRule("oracle", "oracle (test-domain)", "test_out", oracle)):
    SELECTION_RULES.add(_rule.name, _rule)


def get_rule(name: str) -> SelectionRule:
    return SELECTION_RULES.get(name)


def select_epoch(rule: str | SelectionRule, history: Sequence[Mapping[str, Any]],
                 lodo: Mapping[str, Sequence[Mapping[str, Any]]] | None = None) -> int:
    """The epoch ``rule`` picks from a run's per-epoch records (and, for leave-one-domain-out, the
    extra runs' records by held-out domain). Only the field the rule may read is passed on."""
    rule = get_rule(rule) if isinstance(rule, str) else rule
    if rule.reads == "lodo":
        if not lodo:
            raise ArchscoutError("leave-one-domain-out needs its extra runs' records")
        return rule.fn({d: [r["val"][d] for r in recs] for d, recs in lodo.items()})
    return rule.fn([r[rule.reads] for r in history])
