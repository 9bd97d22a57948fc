"""The training step: the core's engine on reused buffers, followed by an optimizer update.

``step = make_step(spec, optimizer, loss)`` gives a function
``params, opt_state, value = step(params, opt_state, x, y)`` for hand-written loops, in
the spirit of a jitted JAX step with donated buffers: it **takes ownership** of the
``params`` and ``opt_state`` passed in and updates their arrays in place; ``x`` and ``y``
are only read. Its buffers live as long as the step, so a step costs no allocation.

As JAX deletes a donated buffer, a successful step returns a new outer list and dict
(holding the same, updated arrays) and empties the ones it was given down to a marker
(:class:`DonatedToStep`): passing them to a step again raises an
:class:`~funcnn.errors.InvalidArgumentError` naming the argument, instead of silently
training on arrays that have moved on. The check is one identity test per argument, the
hand-over two shallow copies; a step that raises consumes nothing.

The gradient is the one :func:`funcnn.value_and_grad` computes: both run
:func:`funcnn.core.engine.forward` and :func:`~funcnn.core.engine.backward`. Only
the sink differs: the step either stores the gradients and hands them to the
optimizer's in-place kernel (the one its pure ``update`` runs), or, for a plain
learning-rate step (:meth:`~funcnn.training.chain.Optimizer.plain_learning_rate`),
applies them inside backprop: backprop is linear in the logits' gradient, so scaling that
(small) gradient by ``lr`` first makes every layer's gradient come out multiplied by
``lr``, and each layer then needs one subtraction after its weights were last read. The
weights' subtraction happens inside their gradient's BLAS product where
:mod:`funcnn.training._blas` finds that bit-identical to ``matmul`` then ``-=``.
"""

from __future__ import annotations

import math
from typing import Any, cast

import numpy as np
from numpy.typing import ArrayLike

from funcnn.core import engine
from funcnn.core.dense import bias_grad_into, weight_grad_into
from funcnn.core.losses import Loss, get_loss
from funcnn.core.network import check_inputs, check_params
from funcnn.core.pytree import tree_flatten, tree_structure
from funcnn.core.spec import MLP
from funcnn.core.validation import all_finite, check_targets, ensure_array
from funcnn.errors import ArgumentTypeError, InvalidArgumentError, NonFiniteError
from funcnn.training._blas import FusedUpdate, fused_update_for
from funcnn.training.chain import Optimizer, OptState, check_optimizer
from funcnn.typing import Array, FloatArray, Params

__all__ = ["DonatedToStep", "Step", "make_step"]


class DonatedToStep:
    """What a list or dict given to a :class:`Step` holds once the step has consumed it.

    ``old_params`` after ``params, state, value = step(old_params, state, x, y)`` reads
    ``[<params donated to a funcnn Step: use the params it returned>]``.

        >>> import numpy as np
        >>> import funcnn as fn
        >>> spec, optimizer = fn.MLP((3, 2)), fn.sgd(0.1)
        >>> old = fn.init(spec, np.random.default_rng(0))
        >>> new, state, value = fn.make_step(spec, optimizer)(
        ...     old, optimizer.init(old), np.ones((4, 3)), np.array([0, 1, 1, 0]))
        >>> old
        [<params donated to a funcnn Step: use the params it returned>]
    """

    __slots__ = ("argument",)

    def __init__(self, argument: str) -> None:
        self.argument = argument

    def __repr__(self) -> str:
        return f"<{self.argument} donated to a funcnn Step: use the {self.argument} it returned>"


_DONATED_PARAMS = DonatedToStep("params")
_DONATED_STATE = DonatedToStep("opt_state")
_DONATED_KEY = "donated"


def _check_not_donated(params: Any, opt_state: Any) -> None:
    """Raise if ``params`` or ``opt_state`` is a list or dict a step already consumed."""
    donated = (isinstance(params, list) and len(params) == 1 and params[0] is _DONATED_PARAMS,
               isinstance(opt_state, dict) and opt_state.get(_DONATED_KEY) is _DONATED_STATE)
    for name, gone in zip(("params", "opt_state"), donated, strict=True):
        if gone:
            raise InvalidArgumentError(
                f"{name}: this {name} was donated to an earlier step call, which updated its "
                f"arrays in place and returned the new {name}: pass the {name} that call "
                f"returned (params, opt_state, value = step(params, opt_state, x, y)); "
                "copy with fn.tree_map(np.copy, ...) before the step to keep an old one"
            )


class Step:
    """A training step for one spec, optimizer and loss (see the module docstring).

    ``step(params, opt_state, x, y) -> (params, opt_state, value)``. Arguments are
    checked at every call in structure, shape and dtype (no pass over the data);
    finiteness is judged from the pre-activations, which any NaN or inf in ``x`` or the
    params reaches (:meth:`~funcnn.core.engine.Buffers.pre_activations_finite`), and
    from the loss: either non-finite raises before anything is updated, naming the
    argument that holds the NaN or inf, else :class:`~funcnn.errors.NonFiniteError`.

        >>> import numpy as np
        >>> import funcnn as fn
        >>> spec = fn.MLP((3, 2))
        >>> step = fn.Step(spec, fn.sgd(0.1))                 # what fn.make_step returns
        >>> params = fn.init(spec, np.random.default_rng(0))
        >>> x, y = np.ones((4, 3)), np.array([0, 1, 1, 0])
        >>> params, state, value = step(params, fn.sgd(0.1).init(params), x, y)
        >>> int(state["count"]), value > 0
        (1, True)
    """

    def __init__(
        self, spec: MLP, optimizer: Optimizer, loss: str | Loss = "softmax_cross_entropy"
    ) -> None:
        if not isinstance(spec, MLP):
            raise ArgumentTypeError(f"spec: expected an MLP, got {type(spec).__name__}")
        self.spec = spec
        self.optimizer = check_optimizer(optimizer)
        self.loss = get_loss(loss)
        self.acts = engine.activations_of(spec)
        # A plain learning-rate step (SGD without momentum or decay) is applied inside
        # backprop: tests prove it equal to the chain's kernel.
        self.plain_lr = optimizer.plain_learning_rate()
        self.treedef = tree_structure([{"W": 0, "b": 0} for _ in spec.layer_shapes])
        self._buffers: dict[tuple[int, Any], engine.Buffers] = {}
        self._work: dict[Any, tuple[list[FloatArray], list[FloatArray], list[Array]]] = {}
        self._fused: dict[tuple[int, Any], list[FusedUpdate | None]] = {}

    # ---------------------------------------------------------------- public call

    def __call__(
        self, params: Params, opt_state: OptState, x: ArrayLike, y: ArrayLike
    ) -> tuple[Params, OptState, float]:
        _check_not_donated(params, opt_state)
        dtype = check_params(self.spec, params, finite=False)
        xb = check_inputs(self.spec, x, dtype, finite=False)
        yb = check_targets(
            ensure_array("y", y), xb.shape[0], self.spec.n_out, dtype, self.loss.target_kind
        )
        leaves, treedef = tree_flatten(params)
        count, slots = self.optimizer.check_state(opt_state, leaves, treedef, finite=False)
        with np.errstate(all="ignore"):
            value, _ = self.run(leaves, slots, count, xb, yb)
        if not math.isfinite(value):
            check_params(self.spec, params)  # names a NaN or inf in the params ...
            check_inputs(self.spec, xb, dtype)  # ... or in x
            raise NonFiniteError(
                f"step: the loss is {value} (the outputs overflow for these params and x; "
                "try a smaller learning rate); nothing was updated"
            )
        new_state = opt_state.copy()
        new_state["count"] = np.array(count + 1, dtype=np.int64)
        new_params = list(params)
        # The hand-over: the caller's objects now hold only a marker (JAX deletes a
        # donated buffer), so a later call with them raises instead of training on
        # arrays that have moved on.
        consumed_params: list[Any] = params
        consumed_params[:] = [_DONATED_PARAMS]
        consumed_state: dict[str, Any] = cast(dict[str, Any], opt_state)
        consumed_state.clear()
        consumed_state[_DONATED_KEY] = _DONATED_STATE
        return new_params, new_state, value

    # ---------------------------------------------------------------- the step itself

    def run(
        self,
        leaves: list[FloatArray],
        slots: dict[str, list[Array]],
        count: int,
        x: FloatArray,
        y: Array,
        *,
        hits: bool = False,
    ) -> tuple[float, int | None]:
        """One step on validated arguments, updating ``leaves`` (``[W0, b0, W1, ...]``)
        and ``slots`` in place; ``(loss, correct predictions if hits else None)``.

        Non-finite pre-activations or loss return (as a NaN or inf loss) before anything
        is updated. An update that the
        optimizer finds would overflow raises :class:`NonFiniteError`, also before.
        """
        r, dtype = x.shape[0], x.dtype
        buf = self._buffers_for(r, dtype)
        W, b = leaves[0::2], leaves[1::2]
        logits = engine.forward(self.acts, W, b, x, buf)
        if not buf.pre_activations_finite():
            return math.nan, None
        if hits and self.loss.shifts_logits:
            value = self.loss.kernel(logits, y, buf.dz[-1])
            correct = count_at_max(logits, y)
        else:
            correct = count_correct(logits, y) if hits else None
            value = self.loss.kernel(logits, y, buf.dz[-1])
        if not math.isfinite(value):
            return value, correct
        gW, gb, scratch = self._work_for(dtype, leaves)
        if self.plain_lr is not None:
            dz = buf.dz[-1]
            dz *= self.plain_lr.value(count)
            sink = _sgd_sink(W, b, gW, gb, self._fused_for(r, dtype))
            engine.backward(self.acts, W, x, buf, sink)
            return value, correct
        engine.backward(self.acts, W, x, buf, engine.store_gradients(gW, gb))
        grads = [g for pair in zip(gW, gb, strict=True) for g in pair]
        overflow = self.optimizer.overflows(grads)
        if overflow is not None:
            raise NonFiniteError(f"step: {overflow}; nothing was updated")
        self.optimizer.apply_in_place(leaves, grads, slots, scratch, count, self.treedef, leaves)
        return value, correct

    def _buffers_for(self, r: int, dtype: np.dtype[Any]) -> engine.Buffers:
        key = (r, dtype)
        buf = self._buffers.get(key)
        if buf is None:
            if len(self._buffers) > 4:  # a loop sees one or two batch sizes
                self._buffers.clear()
            buf = self._buffers[key] = engine.allocate(self.spec, r, dtype)
        return buf

    def _work_for(
        self, dtype: np.dtype[Any], leaves: list[FloatArray]
    ) -> tuple[list[FloatArray], list[FloatArray], list[Array]]:
        key = dtype
        work = self._work.get(key)
        if work is None:
            gW = [np.empty_like(w) for w in leaves[0::2]]
            gb = [np.empty_like(v) for v in leaves[1::2]]
            work = self._work[key] = (gW, gb, [np.empty_like(leaf) for leaf in leaves])
        return work

    def _fused_for(self, r: int, dtype: np.dtype[Any]) -> list[FusedUpdate | None]:
        key = (r, dtype)
        found = self._fused.get(key)
        if found is None:
            found = self._fused[key] = [
                None if r == 1 else fused_update_for(r, n_in, n_out, dtype)
                for n_in, n_out in self.spec.layer_shapes
            ]
        return found


def make_step(
    spec: MLP, optimizer: Optimizer, loss: str | Loss = "softmax_cross_entropy"
) -> Step:
    """A fast training step ``params, opt_state, value = step(params, opt_state, x, y)``
    that takes ownership of the ``params`` and ``opt_state`` it is given, like JAX's
    donated buffers (see :class:`Step`): use only the ones it returns.

        >>> import numpy as np
        >>> import funcnn as fn
        >>> spec = fn.MLP((4, 8, 3), activation="relu")
        >>> rng = np.random.default_rng(0)
        >>> params = fn.init(spec, rng)
        >>> x, y = rng.random((6, 4)), np.array([0, 1, 2, 0, 1, 2])
        >>> optimizer = fn.adam(0.01)
        >>> step = fn.make_step(spec, optimizer)
        >>> start = fn.tree_map(np.copy, params)           # the step will own params
        >>> new, opt_state, value = step(params, optimizer.init(params), x, y)
        >>> for _ in range(20):
        ...     new, opt_state, value = step(new, opt_state, x, y)
        >>> value < fn.loss(spec, start, x, y)
        True
        >>> step(params, opt_state, x, y)                  # the donated, superseded list
        Traceback (most recent call last):
        ...
        funcnn.errors.InvalidArgumentError: params: this params was donated ...
    """
    return Step(spec, optimizer, loss)


def count_correct(logits: FloatArray, y: Array) -> int | None:
    """Samples whose target class has the largest logit (a tie counts as correct; a row
    holding a NaN, or whose largest logit is infinite, never does); the target class is
    the label, or the largest target; None with one output."""
    r, c = logits.shape
    if c < 2:
        return None
    labels = y if y.dtype.kind != "f" else np.argmax(y, axis=1)
    if r == 1:  # per-sample SGD: ten Python floats beat four array operations
        row = logits[0].tolist()
        top = max(row) if not any(map(math.isnan, row)) else math.nan
        return int(math.isfinite(top) and row[int(labels[0])] >= top)
    picked = logits.reshape(-1).take(np.arange(0, r * c, c) + labels)
    top = np.maximum.reduce(logits, axis=1)
    # A NaN anywhere in a row makes its maximum NaN; an inf makes it inf: neither counts.
    return int(np.count_nonzero((picked >= top) & np.isfinite(top)))


def count_at_max(shifted: FloatArray, y: Array) -> int | None:
    """:func:`count_correct` for logits already shifted by their row maxima (as a loss
    with ``shifts_logits`` leaves them): the target's logit is a row's largest exactly
    when it reads 0 (``a - m`` is 0 only for ``a == m``), and a row holding a NaN or
    whose largest logit is infinite has no 0 left (``inf - inf`` and ``x - nan`` are
    NaN)."""
    r, c = shifted.shape
    if c < 2:
        return None
    labels = y if y.dtype.kind != "f" else np.argmax(y, axis=1)
    if r == 1:
        return int(shifted[0, int(labels[0])] == 0)
    picked = shifted.reshape(-1).take(np.arange(0, r * c, c) + labels)
    return int(np.count_nonzero(picked == 0))


def _sgd_sink(
    W: list[FloatArray],
    b: list[FloatArray],
    gW: list[FloatArray],
    gb: list[FloatArray],
    fused: list[FusedUpdate | None],
) -> engine.Sink:
    """Plain SGD applied by backprop: ``dz`` arrives already multiplied by ``lr``."""

    def sink(i: int, a_in: FloatArray, g: FloatArray) -> None:
        update = fused[i]
        if update is not None:
            update(W[i], a_in, g)
        else:
            weight_grad_into(a_in, g, gW[i])
            W[i] -= gW[i]
        if g.shape[0] == 1:
            b[i] -= g[0]  # the sum over one row, without the reduction's overhead
        else:
            bias_grad_into(g, gb[i])
            b[i] -= gb[i]

    return sink


def all_leaves_finite(leaves: list[Array]) -> bool:
    """Whether every array holds only finite values (one read of each)."""
    return all(all_finite(leaf) for leaf in leaves)
