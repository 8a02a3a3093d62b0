"""The Evaluator protocol: an arch (and a budget) in, objective values and their cost out."""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any

from archscout.spaces import Arch, SearchSpace


@dataclass(frozen=True)
class Evaluation:
    """What one evaluation gives.

    ``values`` are what a search may look at (validation accuracy, costs); ``reported`` holds the
    figures a report shows for the chosen arch but that must never steer the search (test accuracy).
    ``cost_s`` is the time the evaluation took or would have taken (simulated for tables).
    """

    values: dict[str, float]
    reported: dict[str, float] = field(default_factory=dict)
    cost_s: float = 0.0


class Evaluator(abc.ABC):
    """Evaluates archs of one space. Tabular and training evaluators implement the same calls."""

    space: SearchSpace

    @property
    @abc.abstractmethod
    def metrics(self) -> tuple[str, ...]:
        """Names that ``evaluate`` puts in ``values`` (what objectives and constraints may use)."""

    @abc.abstractmethod
    def evaluate(self, arch: Arch, budget: Any = None) -> Evaluation:
        """Evaluate one arch; ``budget`` is evaluator-specific (epochs for training)."""
