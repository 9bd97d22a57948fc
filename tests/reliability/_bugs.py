"""Known bugs the reliability tests found, by id: the reasons of their xfail marks.

Each entry says where the bug is, what happens and what should happen. Tests of a bug
are ``xfail(strict=True)``: once it is fixed they XPASS, which fails the run until the
mark (and the entry here) is removed.
"""

from __future__ import annotations

from typing import Any

import pytest

__all__ = ["BUGS", "known_bug"]

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
    "config-name": (
        "optimizers.optimizer_from_config and schedules.schedule_from_config test "
        "'name not in kinds' on an unhashable name: raw TypeError; expected "
        "InvalidArgumentError naming config"
    ),
    "history-overflow": (
        "training.History.from_dict converts JSON integers with float(): an integer beyond "
        "float range raises OverflowError; expected InvalidArgumentError naming the field"
    ),
    "path-type": (
        "save_checkpoint, load_checkpoint, load_mnist, find_mnist and read_idx pass a "
        "non-path argument to os.fspath/Path: raw TypeError; expected ArgumentTypeError "
        "naming the path argument"
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
    "params-finite": (
        "sgd_step and Optimizer.update check grads but not params: NaN/inf params give "
        "NaN results silently (sgd_step also takes int or non-array leaves); expected "
        "InvalidArgumentError naming params"
    ),
    "overflow": (
        "finite inputs whose result overflows give a RuntimeWarning (an error under "
        "-W error) or silent inf/NaN instead of a finite result or NonFiniteError: the "
        "loss functions, loss/value_and_grad, apply, evaluate, top_misclassified, "
        "standardize with a tiny std, plots of huge values, check_network"
    ),
    "ckpt-crafted": (
        "checkpoint.load_checkpoint catches ValueError/TypeError/KeyError only: a sealed "
        "file with deeply nested JSON (RecursionError), an integer beyond float or C long "
        "range in history or rng state (OverflowError) or an rng key of dtype object "
        "(IndexError) escapes; expected DataFormatError naming the file"
    ),
    "orphan-temp": (
        "checkpoint._write_atomically: a writer killed between mkstemp and os.replace "
        "leaves its full-size '.NAME.XXXX.tmp' behind forever; later saves never remove "
        "it, so kills accumulate garbage (suggested: pid in the temporary name and remove "
        "siblings of dead writers on the next save)"
    ),
    "cli-seed": (
        "cli: 'funcnn train --seed -1' fails in np.random.default_rng with 'internal error: "
        "ValueError', exit 1; expected a usage error naming --seed, exit 2"
    ),
    "cli-out-file": (
        "cli: 'funcnn train --out FILE' (an existing file) ends in 'internal error: "
        "FileExistsError', exit 1, after loading the data; expected an error naming --out, "
        "exit 2"
    ),
    "cli-resume-config": (
        "cli: --resume with a checkpoint whose metadata['train'] lacks keys or holds wrong "
        "types ends in 'internal error: KeyError/TypeError', exit 1; expected a one-line "
        "error naming the checkpoint, exit 2"
    ),
    "cli-verify-usage": (
        "cli: 'funcnn verify' usage errors print argparse's multi-line usage text; expected "
        "one line like the other commands"
    ),
    "cli-flag-names": (
        "cli: errors from the library name its parameter (gamma, b1, b2, std) instead of "
        "the flag the user typed (--decay-factor, --beta1, --beta2, --init)"
    ),
    "verification-args": (
        "verification entry points do not validate all arguments: non-callable loss_fn/"
        "grad_fn, seed < 0, a loss_fn returning a non-number, NaN noise_scale, invalid "
        "Settings, non-float dtypes, unknown architectures, non-Check items and non-MLP "
        "specs raise raw TypeError/ValueError/KeyError/AttributeError/IndexError, and a "
        "grad_fn returning NaN escapes as a RuntimeWarning"
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


def known_bug(bug: str) -> Any:
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
