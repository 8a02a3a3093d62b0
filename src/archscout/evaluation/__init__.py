"""Evaluators: tabular (NB201 accuracy + cost, FBNet cost) behind one protocol with training ones."""

from archscout.evaluation._base import Evaluation, Evaluator
from archscout.evaluation._tabular import FBNetCostEvaluator, NB201TabularEvaluator

__all__ = ["Evaluation", "Evaluator", "FBNetCostEvaluator", "NB201TabularEvaluator"]
