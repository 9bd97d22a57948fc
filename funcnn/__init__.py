"""funcnn: pure-functional, typed multilayer perceptrons in numpy, with hand-written backprop.

Everything public is importable from here (``import funcnn as fn``). A network is a
frozen :class:`MLP` spec plus its parameters, a list of ``{"W": (n_in, n_out), "b":
(n_out,)}`` dicts; every function is pure (no hidden state, inputs never mutated,
randomness from an explicit ``numpy.random.Generator``):

    >>> import numpy as np
    >>> import funcnn as fn
    >>> rng = np.random.default_rng(0)
    >>> spec = fn.MLP((4, 8, 3), activation="relu")
    >>> params = fn.init(spec, rng)
    >>> x, y = rng.random((5, 4)), np.array([0, 1, 2, 1, 0])
    >>> value, grads = fn.value_and_grad(spec, params, x, y)
    >>> params = fn.sgd_step(params, grads, lr=0.1)
    >>> fn.apply(spec, params, x).shape
    (5, 3)

Where to look (``help(funcnn.core.network)`` and so on for each module):

- ``funcnn.core``: ``MLP`` (spec), ``init`` (initializers), ``apply`` / ``loss`` /
  ``value_and_grad`` (network), activations, losses, softmax, dense layers, pytrees.
- ``funcnn.training``: ``sgd`` / ``adam`` / ``adamw`` / ``rmsprop`` / ``adagrad``
  (optimizers, chains of ``funcnn.training.transforms``), schedules, ``fit`` (loop),
  ``EarlyStopping`` / ``KeepBest`` / ``Progress`` (callbacks), ``save_checkpoint`` /
  ``load_checkpoint``.
- ``funcnn.data``: ``load_mnist`` and its helpers (mnist), IDX files (idx).
- ``funcnn.reporting``: accuracy, confusion matrix, classification report (metrics);
  ``funcnn.plots`` draws PNGs (extra ``funcnn[plot]``).
- ``funcnn.estimators``: ``MLPClassifier`` / ``MLPRegressor`` for scikit-learn
  (extra ``funcnn[sklearn]``; imported on its own, not by ``import funcnn``).
- ``funcnn.errors``: ``InvalidArgumentError``, ``ArgumentTypeError`` and the rest.
- The ``funcnn`` command (``funcnn.cli``): ``funcnn train``, ``evaluate``, ``verify``.
- The ``verification`` package checks gradients against scipy finite differences.

``import funcnn`` loads numpy and the core only: data, reporting and training are
imported the first time one of their names is used (``fn.fit``), scipy by the first
sigmoid or softplus derivative computed, matplotlib by the first plot.

The user documentation is the ``docs/`` folder of the repository (an mkdocs site).
"""

import importlib
from typing import TYPE_CHECKING

from funcnn.core.activations import (
    ACTIVATIONS,
    Activation,
    elementwise,
    get_activation,
    identity,
    identity_derivative,
    leaky_relu,
    leaky_relu_derivative,
    relu,
    relu_derivative,
    sigmoid,
    sigmoid_derivative,
    softplus,
    softplus_derivative,
    tanh,
    tanh_derivative,
)
from funcnn.core.dense import dense, dense_vjp
from funcnn.core.initializers import SCHEMES, InitScheme, get_scheme, init, normal
from funcnn.core.losses import (
    LOSSES,
    Loss,
    binary_cross_entropy,
    binary_cross_entropy_grad,
    get_loss,
    mse,
    mse_grad,
    softmax_binary_cross_entropy,
    softmax_binary_cross_entropy_grad,
    softmax_cross_entropy,
    softmax_cross_entropy_grad,
    softmax_then_cross_entropy,
    softmax_then_cross_entropy_grad,
)
from funcnn.core.network import apply, grad, input_grad, loss, value_and_grad
from funcnn.core.pytree import (
    TreeDef,
    ravel,
    tree_flatten,
    tree_leaves,
    tree_map,
    tree_structure,
    tree_unflatten,
)
from funcnn.core.softmax import log_softmax, softmax, softmax_jacobian, softmax_vjp
from funcnn.core.spec import MLP
from funcnn.errors import (
    ArgumentTypeError,
    DataFormatError,
    FuncnnError,
    InvalidArgumentError,
    NonFiniteError,
)
from funcnn.typing import Layer, Params

if TYPE_CHECKING:
    from funcnn import plots as plots
    from funcnn.data.idx import read_idx, write_idx
    from funcnn.data.mnist import (
        MNIST_MEAN,
        MNIST_STD,
        DownloadError,
        download_mnist,
        find_mnist,
        flatten,
        load_mnist,
        mnist_cache_dir,
        one_hot,
        scale,
        standardize,
        train_validation_split,
    )
    from funcnn.reporting.classification import (
        AverageScores,
        ClassificationReport,
        classification_report,
    )
    from funcnn.reporting.metrics import (
        Misclassified,
        accuracy,
        confusion_matrix,
        predict,
        predict_proba,
        top_misclassified,
    )
    from funcnn.training.callbacks import EarlyStopping, KeepBest, Progress
    from funcnn.training.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
    from funcnn.training.evaluation import evaluate
    from funcnn.training.loop import (
        BatchEnd,
        EpochEnd,
        History,
        StopTraining,
        TrainingDivergedError,
        fit,
    )
    from funcnn.training.optimizers import (
        OPTIMIZERS,
        SGD,
        Adam,
        Optimizer,
        OptState,
        adagrad,
        adam,
        adamw,
        chain,
        optimizer_from_config,
        rmsprop,
        sgd,
        sgd_step,
    )
    from funcnn.training.schedules import (
        Constant,
        Cosine,
        Schedule,
        StepDecay,
        as_schedule,
        schedule_from_config,
    )
    from funcnn.training.step import Step, make_step

# Data, reporting and training are imported on first use (``fn.fit``, ``from funcnn
# import load_mnist``), so that ``import funcnn`` and ``funcnn --help`` stay fast (issue
# 23); type checkers read the imports above. Each module, with the names it exports here:
_LAZY: dict[str, tuple[str, ...]] = {
    "funcnn.data.idx": ("read_idx", "write_idx"),
    "funcnn.data.mnist": (
        "MNIST_MEAN",
        "MNIST_STD",
        "DownloadError",
        "download_mnist",
        "find_mnist",
        "flatten",
        "load_mnist",
        "mnist_cache_dir",
        "one_hot",
        "scale",
        "standardize",
        "train_validation_split",
    ),
    "funcnn.reporting.classification": (
        "AverageScores",
        "ClassificationReport",
        "classification_report",
    ),
    "funcnn.reporting.metrics": (
        "Misclassified",
        "accuracy",
        "confusion_matrix",
        "predict",
        "predict_proba",
        "top_misclassified",
    ),
    "funcnn.training.callbacks": ("EarlyStopping", "KeepBest", "Progress"),
    "funcnn.training.checkpoint": ("Checkpoint", "load_checkpoint", "save_checkpoint"),
    "funcnn.training.evaluation": ("evaluate",),
    "funcnn.training.loop": (
        "BatchEnd",
        "EpochEnd",
        "History",
        "StopTraining",
        "TrainingDivergedError",
        "fit",
    ),
    "funcnn.training.optimizers": (
        "OPTIMIZERS",
        "SGD",
        "Adam",
        "Optimizer",
        "OptState",
        "adagrad",
        "adam",
        "adamw",
        "chain",
        "optimizer_from_config",
        "rmsprop",
        "sgd",
        "sgd_step",
    ),
    "funcnn.training.schedules": (
        "Constant",
        "Cosine",
        "Schedule",
        "StepDecay",
        "as_schedule",
        "schedule_from_config",
    ),
    "funcnn.training.step": ("Step", "make_step"),
}
_LAZY_NAMES = {name: module for module, names in _LAZY.items() for name in names}

__version__ = "0.1.0"

__all__ = [
    "ACTIVATIONS",
    "LOSSES",
    "MLP",
    "MNIST_MEAN",
    "MNIST_STD",
    "OPTIMIZERS",
    "SCHEMES",
    "SGD",
    "Activation",
    "Adam",
    "ArgumentTypeError",
    "AverageScores",
    "BatchEnd",
    "Checkpoint",
    "ClassificationReport",
    "Constant",
    "Cosine",
    "DataFormatError",
    "DownloadError",
    "EarlyStopping",
    "EpochEnd",
    "FuncnnError",
    "History",
    "InitScheme",
    "InvalidArgumentError",
    "KeepBest",
    "Layer",
    "Loss",
    "Misclassified",
    "NonFiniteError",
    "OptState",
    "Optimizer",
    "Params",
    "Progress",
    "Schedule",
    "Step",
    "StepDecay",
    "StopTraining",
    "TrainingDivergedError",
    "TreeDef",
    "accuracy",
    "adagrad",
    "adam",
    "adamw",
    "apply",
    "as_schedule",
    "binary_cross_entropy",
    "binary_cross_entropy_grad",
    "chain",
    "classification_report",
    "confusion_matrix",
    "dense",
    "dense_vjp",
    "download_mnist",
    "elementwise",
    "evaluate",
    "find_mnist",
    "fit",
    "flatten",
    "get_activation",
    "get_loss",
    "get_scheme",
    "grad",
    "identity",
    "identity_derivative",
    "init",
    "input_grad",
    "leaky_relu",
    "leaky_relu_derivative",
    "load_checkpoint",
    "load_mnist",
    "log_softmax",
    "loss",
    "make_step",
    "mnist_cache_dir",
    "mse",
    "mse_grad",
    "normal",
    "one_hot",
    "optimizer_from_config",
    "predict",
    "predict_proba",
    "ravel",
    "read_idx",
    "relu",
    "relu_derivative",
    "rmsprop",
    "save_checkpoint",
    "scale",
    "schedule_from_config",
    "sgd",
    "sgd_step",
    "sigmoid",
    "sigmoid_derivative",
    "softmax",
    "softmax_binary_cross_entropy",
    "softmax_binary_cross_entropy_grad",
    "softmax_cross_entropy",
    "softmax_cross_entropy_grad",
    "softmax_jacobian",
    "softmax_then_cross_entropy",
    "softmax_then_cross_entropy_grad",
    "softmax_vjp",
    "softplus",
    "softplus_derivative",
    "standardize",
    "tanh",
    "tanh_derivative",
    "top_misclassified",
    "train_validation_split",
    "tree_flatten",
    "tree_leaves",
    "tree_map",
    "tree_structure",
    "tree_unflatten",
    "value_and_grad",
    "write_idx",
]


def __getattr__(name: str) -> object:
    # PEP 562: called only for names not yet in this module's namespace. A lazily
    # exported name is imported from its module once, then kept here, so later lookups
    # (``fn.sgd_step`` in a training loop) are plain attribute reads.
    module = _LAZY_NAMES.get(name)
    if module is not None:
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value
        return value
    # ``from funcnn import plots`` keeps working without importing matplotlib for
    # everyone: the plots module (extra ``funcnn[plot]``) is loaded on first use.
    if name == "plots":
        return importlib.import_module("funcnn.plots")
    # ``fn.training.loop`` and the like worked when everything was imported eagerly:
    # the subpackage comes with the modules this namespace exports from it.
    if name in ("data", "reporting", "training"):
        for module in _LAZY:
            if module.startswith(f"funcnn.{name}."):
                importlib.import_module(module)
        return importlib.import_module(f"funcnn.{name}")
    raise AttributeError(f"module 'funcnn' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__, "plots"})
