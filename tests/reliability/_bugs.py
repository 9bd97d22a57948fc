"""Known bugs the reliability tests found, by id: the reasons of their xfail marks.

Each entry says where the bug is, what happens and what should happen. Tests of a bug
are ``xfail(strict=True)``: once it is fixed they XPASS, which fails the run until the
mark (and the entry here) is removed.
"""

from __future__ import annotations

import pytest

__all__ = ["BUGS", "FIXED", "known_bug"]

BUGS: dict[str, str] = {
    "ragged": (
        "validation.ensure_array lets numpy's ValueError for ragged nested lists escape "
        "(every function taking array-likes: x, y, z, labels, plot series); expected "
        "InvalidArgumentError naming the argument"
    ),
    "dict-keys": (
        "network.check_params sorts a layer's keys to report them: mixed str/int keys "
        "raise TypeError; expected InvalidArgumentError naming params[i]"
    ),
    "init-callable": (
        "initializers.init: a callable scheme that does not return a (W, b) pair raises "
        "a raw ValueError/TypeError when unpacked; expected InvalidArgumentError naming scheme"
    ),
    "normal-type": (
        "initializers.normal: a non-number std or bias raises a raw TypeError from "
        "math.isfinite; expected ArgumentTypeError naming it"
    ),
    "path-type": (
        "load_mnist, find_mnist and read_idx pass a non-path argument to Path(): raw "
        "TypeError; expected ArgumentTypeError naming the path argument (as save_checkpoint "
        "and load_checkpoint now do)"
    ),
    "tree-unflatten": (
        "pytree.tree_unflatten with a treedef that is not a TreeDef raises AttributeError; "
        "expected ArgumentTypeError naming treedef"
    ),
    "primitives": (
        "the exported primitives (softmax, log_softmax, softmax_jacobian, activations, "
        "dense) do not validate: empty, 0-d, list or mismatched input gives raw numpy "
        "errors; expected funcnn errors naming the argument (or keep them unchecked and "
        "say so in their docstrings)"
    ),
    "overflow": (
        "finite inputs whose result overflows give a RuntimeWarning (an error under "
        "-W error) or silent inf/NaN instead of a finite result or NonFiniteError: the "
        "loss functions, loss/value_and_grad, apply, top_misclassified, standardize with a "
        "tiny std, plots of huge values, check_network (evaluate is fixed)"
    ),
    "verification-args": (
        "verification entry points do not validate all arguments: non-callable loss_fn/"
        "grad_fn, seed < 0, a loss_fn returning a non-number, NaN noise_scale, invalid "
        "Settings, non-float dtypes, unknown architectures, non-Check items and non-MLP "
        "specs raise raw TypeError/ValueError/KeyError/AttributeError/IndexError, and a "
        "grad_fn returning NaN escapes as a RuntimeWarning"
    ),
    "flatten-empty": (
        "mnist.flatten: an empty batch (0, 28, 28) raises numpy's ValueError 'cannot "
        "reshape array of size 0 into shape (0,newaxis)'; expected (0, 784) (reshape with "
        "math.prod(shape[1:]) instead of -1)"
    ),
    "golden-leak": (
        "verification.golden.load_golden passes the path to np.load, which leaves the file "
        "open when the zip is unreadable (a file starting with PK): ResourceWarning "
        "'unclosed file', an error under -W error; open the file in a with block and pass "
        "the handle, as load_checkpoint does"
    ),
    "idx-bytes": (
        "idx.decode_idx and idx.gunzip with a str raise a raw TypeError from memoryview, "
        "gunzip(max_size=-1) a raw ValueError; expected ArgumentTypeError / "
        "InvalidArgumentError naming the argument"
    ),
}


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
}
"""Bugs these tests found that are fixed (commit 02c0697); their tests now pass unmarked."""


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
