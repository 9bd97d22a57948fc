"""Known bugs the reliability tests found, by id: the reasons of their xfail marks.

Each entry says where the bug is, what happens and what should happen. Tests of a bug
are ``xfail(strict=True)``: once it is fixed they XPASS, which fails the run until the
mark (and the entry here) is removed.
"""

from __future__ import annotations

import pytest

__all__ = ["BUGS", "FIXED", "known_bug"]

BUGS: dict[str, str] = {}
"""Open bugs: none at the moment. Add an entry here and mark its tests with :func:`known_bug`."""


FIXED: dict[str, str] = {
    "params-finite": "sgd_step and Optimizer.update accepted NaN/inf and non-float params",
    "config-name": "optimizer/schedule configs with an unhashable name raised TypeError",
    "history-overflow": "History.from_dict let OverflowError escape for huge JSON integers",
    "ckpt-crafted": "load_checkpoint let RecursionError, OverflowError, IndexError, "
    "NotImplementedError and RuntimeError escape for sealed crafted files",
    "orphan-temp": "temporary files of checkpoint writers killed mid-write accumulated",
    "cli-seed": "funcnn train --seed -1 was an internal error",
    "cli-out-file": "funcnn train --out FILE was an internal error",
    "cli-resume-config": "--resume with incomplete saved settings was an internal error",
    "cli-verify-usage": "funcnn verify usage errors printed several lines",
    "cli-flag-names": "CLI errors named library parameters (gamma, b1, std) not the flags",
    "checkpoint-path-type": "save/load_checkpoint raised TypeError for a non-path argument",
    "evaluate-overflow": "evaluate returned a NaN loss for overflowing outputs",
    "ragged": "array-like arguments with ragged nested lists raised numpy's ValueError",
    "dict-keys": "check_params sorted mixed str/int layer keys and raised TypeError",
    "init-callable": "init unpacked a callable scheme's result without checking it",
    "normal-type": "normal() let math.isfinite's TypeError escape for non-numbers",
    "path-type": "load_mnist, find_mnist and read_idx raised TypeError for non-paths",
    "tree-unflatten": "tree_unflatten raised AttributeError for a non-TreeDef",
    "primitives": "activations, softmax and dense gave raw numpy errors on bad input",
    "overflow": "losses, apply, value_and_grad, top_misclassified, standardize, plots and "
    "check_network warned or returned inf/NaN when a finite input's result overflowed",
    "verification-args": "verification entry points let raw errors escape for bad arguments",
    "flatten-empty": "flatten of an empty batch raised numpy's reshape error",
    "golden-leak": "load_golden left its file open when the archive was unreadable",
    "idx-bytes": "decode_idx and gunzip raised raw errors for str data or a negative max_size",
}
"""Bugs these tests found that are fixed (commits 02c0697, 925aa5c, 23e0347, 79b8539);
their tests now pass unmarked."""


def known_bug(bug: str) -> pytest.MarkDecorator:
    """The ``xfail(strict=True)`` mark of bug ``bug`` (a key of :data:`BUGS`)."""
    if bug not in BUGS:
        raise KeyError(f"unknown bug id {bug!r}")
    # Only a failed assertion counts as the bug showing: any other error in the test
    # (a mistake in the test itself) is reported as an error, not hidden as an xfail.
    return pytest.mark.xfail(
        strict=True,
        raises=(AssertionError, pytest.fail.Exception),
        reason=f"known bug '{bug}' (tests/reliability/_bugs.py)",
    )
