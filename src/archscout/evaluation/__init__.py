"""Evaluators: tabular (NB201 accuracy + cost, FBNet cost) and training (an arch trained on domain data)
behind one protocol."""

from archscout.evaluation._base import Evaluation, Evaluator
from archscout.evaluation._tabular import FBNetCostEvaluator, NB201TabularEvaluator
from archscout.evaluation._training import SIGNALS, TrainingEvaluator, TrainingTask

__all__ = ["SIGNALS", "Evaluation", "Evaluator", "FBNetCostEvaluator", "NB201TabularEvaluator", "TrainingEvaluator",
           "TrainingTask"]
