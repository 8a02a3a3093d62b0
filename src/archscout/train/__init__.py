"""Training and evaluation of a fixed architecture on domain data (ERM), DomainBed's model selection
rules (training-domain validation, leave-one-domain-out, test-domain oracle), resumable runs."""

from archscout.train._api import TrainResult, train, train_seeds
from archscout.train._augment import Classifier, augment, random_crop, random_flip
from archscout.train._config import NET_DEFAULTS, TrainConfig
from archscout.train._export import OnnxCheck, OnnxMismatchError, export_onnx, verify_onnx
from archscout.train._loop import accuracy
from archscout.train._model import load_model
from archscout.train._selection import (SELECTION_RULES, SelectionRule, get_rule, leave_one_domain_out, oracle,
                                        select_epoch, training_domain)

__all__ = ["NET_DEFAULTS", "SELECTION_RULES", "Classifier", "OnnxCheck", "OnnxMismatchError", "SelectionRule",
           "TrainConfig", "TrainResult", "accuracy", "augment", "export_onnx", "get_rule", "leave_one_domain_out", "load_model",
           "oracle", "random_crop", "random_flip", "select_epoch", "train", "train_seeds", "training_domain",
           "verify_onnx"]
