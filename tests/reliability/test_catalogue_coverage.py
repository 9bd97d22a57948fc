"""The catalogue covers every public function: each has at least one bad-input row.

A public callable without a row must be listed in ``EXEMPT`` with the reason, so a new
function cannot slip in without its bad inputs being considered.
"""

from __future__ import annotations

import inspect
from types import ModuleType

import funcnn
import verification
from funcnn.core import network, validation
from funcnn.data import idx, mnist
from funcnn.reporting import classification, metrics, plots
from funcnn.training import chain, checkpoint, optimizers, schedules, transforms
from funcnn.training import loop as training
from tests.reliability import (
    test_bad_inputs_core,
    test_bad_inputs_data,
    test_bad_inputs_training,
    test_bad_inputs_verification,
)

MODULES: tuple[ModuleType, ...] = (
    funcnn,
    network,
    validation,
    optimizers,
    chain,
    transforms,
    schedules,
    training,
    checkpoint,
    mnist,
    idx,
    metrics,
    classification,
    plots,
    verification,
)

EXEMPT: dict[str, str] = {
    # Unchecked by design and documented so: callers validate once, then use these.
    "apply_unchecked": "documented as unvalidated (hot loops)",
    "value_and_grad_unchecked": "documented as unvalidated (hot loops)",
    "forward": "documented as taking validated x",
    "backward": "documented as taking validated arguments",
    # Any value is a valid argument.
    "ravel": "any pytree is valid",
    "all_finite": "any array is valid (the answer is a bool)",
    "overflow_error": "builds an error message from a caller's name and dtype",
    "tree_leaves": "any pytree is valid",
    "tree_structure": "any pytree is valid",
    "mnist_cache_dir": "no arguments",
    "build_catalogue": "quick is any truthy value",
    "optimizer_table": "no arguments",
    "schedule_table": "no arguments",
    "global_norm": "any list of arrays is valid (the caller's leaves)",
    "leaf_paths": "takes a TreeDef that tree_flatten made",
    "weights_only": "a mask: any path and array are valid",
    "all_leaves": "a mask: any path and array are valid",
    "make_state": "builds a state from a count and slots the optimizer checks",
    # Plain records and exceptions: no validation of their own.
    **{
        name: "record or exception type"
        for name in (
            "Activation",
            "Loss",
            "TreeDef",
            "Trace",
            "AverageScores",
            "Misclassified",
            "MnistFile",
            "BatchEnd",
            "EpochEnd",
            "TrainingDivergedError",
            "DownloadError",
            "PlotDependencyError",
            "FuncnnError",
            "InvalidArgumentError",
            "ArgumentTypeError",
            "DataFormatError",
            "NonFiniteError",
            "ForeignError",
            "Check",
            "CheckRow",
            "Diagnosis",
            "Report",
            "Tolerance",
            "OptState",
            "OptimizerEntry",
            "Mask",
            "Path",
            "Transform",
            "ScaleByAdam",
            "ScaleByRms",
            "ScaleByRss",
            "AddDecayedWeights",
            "ScaleByLearningRate",
            "ClipByGlobalNorm",
            "Params",
            "Layer",
            "InitScheme",
            "ProgressCallback",
            "Callback",
            "Event",
            "StopTraining",
        )
    },
    "Settings": "a record; validated where it is used (rows check_gradients/settings-*)",
    "export_golden": "writes to a user path; OSError on failure like every writer",
}


def _covered() -> set[str]:
    ids = [case.id for case in test_bad_inputs_core.CASES]
    ids += [case.id for case in test_bad_inputs_training.CASES]
    ids += [p.values[0] for p in test_bad_inputs_training._checkpoint_rows()]
    ids += [case.id for case in test_bad_inputs_data.CASES]
    ids += [p.values[0] for p in test_bad_inputs_data._file_rows()]
    ids += [case.id for case in test_bad_inputs_verification.CASES]
    ids += [p.values[0] for p in test_bad_inputs_verification._golden_rows()]
    names = set()
    for case_id in ids:
        head = str(case_id).split("/")[0]
        names.add(head)
        names.add(head.split(".")[0])
    return names


def test_every_public_callable_has_a_row_or_a_reason() -> None:
    covered = _covered()
    missing = []
    for module in MODULES:
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name)
            if not (inspect.isfunction(obj) or inspect.isclass(obj) or callable(obj)):
                continue
            if isinstance(obj, type) and issubclass(obj, BaseException):
                continue
            if name not in covered and name not in EXEMPT:
                missing.append(f"{module.__name__}.{name}")
    assert not missing, f"public callables without a catalogue row or a reason: {missing}"


def test_exemptions_are_not_stale() -> None:
    covered = _covered()
    everything = {name for module in MODULES for name in getattr(module, "__all__", ())}
    stale = sorted(name for name in EXEMPT if name not in everything or name in covered)
    assert not stale, f"EXEMPT entries that are covered or no longer exist: {stale}"
