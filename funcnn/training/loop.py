"""The training loop: :func:`fit` runs epochs of minibatch updates and records a history.

``fit`` is pure from the caller's side: it never modifies the arrays it is given and
returns new parameters, a new optimizer state and a :class:`History`. The only thing it
advances is the explicit ``rng`` (one ``rng.permutation`` per epoch, drawn when the
epoch starts), exactly as :func:`funcnn.init` advances its generator. Internally it
validates everything once, then runs a fused step on private copies of the parameters
and preallocated buffers: batches are gathered with ``ndarray.take(..., out=)`` (or are
plain slices without shuffling), activations and gradients are written into reused
arrays with ``out=``, and the optimizer's in-place kernel (the same one its pure
``update`` runs) updates the private parameters. Plain SGD (no momentum, no weight
decay) goes further: the learning rate is folded into the logits' gradient, so backprop
yields ``lr * grad`` directly and each update is one subtraction, which for the weights
happens inside their gradient's BLAS product where that gives the same bits
(:mod:`funcnn.training._blas`). The result equals the written-out loop (``value_and_grad`` then
``update``) up to floating-point rounding.

Resuming is exact: the state after ``k`` epochs is ``(params, opt_state, history)`` plus
the rng's state at that epoch boundary (``rng.bit_generator.state``); calling ``fit``
again with those (``opt_state=``, ``history=``, a generator restored to that state) gives
bit-identical results to an uninterrupted run. :mod:`funcnn.training.checkpoint` stores all of it.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, TypeAlias

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

from funcnn.core.activations import ACTIVATIONS, LEAKY_RELU_SLOPE, Activation
from funcnn.core.losses import Loss, get_loss
from funcnn.core.network import apply_unchecked, check_inputs, check_params
from funcnn.core.pytree import tree_flatten, tree_unflatten
from funcnn.core.spec import MLP
from funcnn.core.validation import check_finite, check_positive_int, check_targets, ensure_array
from funcnn.errors import ArgumentTypeError, InvalidArgumentError, NonFiniteError
from funcnn.training._blas import FusedUpdate, fused_update_for
from funcnn.training.optimizers import SGD, Optimizer, OptState, make_state
from funcnn.typing import Array, FloatArray, Params

__all__ = [
    "BatchEnd",
    "EpochEnd",
    "History",
    "TrainingDivergedError",
    "evaluate",
    "fit",
]


# --------------------------------------------------------------------------- history


def _float_tuple(name: str, value: Any) -> tuple[float, ...]:
    if not isinstance(value, list | tuple):
        raise InvalidArgumentError(f"history.{name}: expected a list of numbers, got {value!r}")
    out = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int | float):
            raise InvalidArgumentError(f"history.{name}: expected numbers, found {item!r}")
        try:
            out.append(float(item))
        except OverflowError:
            raise InvalidArgumentError(
                f"history.{name}: expected numbers within float range, found an integer "
                f"of {len(str(item))} digits"
            ) from None
    return tuple(out)


@dataclass(frozen=True)
class History:
    """What happened during training, one entry per epoch (JSON-serialisable).

    - ``epoch_train_loss``: mean loss over the epoch's training samples, each taken when
      its batch was processed (the running loss, as Keras reports it)
    - ``epoch_train_accuracy``: likewise, the fraction of training samples whose logits'
      argmax was the label when their batch was processed (empty when ``n_out == 1``)
    - ``epoch_test_loss``, ``epoch_test_accuracy``: on the test set with the parameters
      at the end of the epoch (empty without test data; accuracy empty when ``n_out == 1``)
    - ``epoch_time``: wall-clock seconds of each epoch, test evaluation included
    - ``epoch_steps``: the number of minibatch updates in each epoch
    - ``batch_losses``: the loss of every ``batch_interval``-th batch, counting batches
      across epochs (batch ``batch_interval``, ``2 * batch_interval``, ...); empty when
      ``batch_interval`` is ``None``

    For integer labels the accuracy counts the label's logit being the largest; a tie
    for the largest counts as correct.
    """

    epoch_train_loss: tuple[float, ...] = ()
    epoch_train_accuracy: tuple[float, ...] = ()
    epoch_test_loss: tuple[float, ...] = ()
    epoch_test_accuracy: tuple[float, ...] = ()
    epoch_time: tuple[float, ...] = ()
    epoch_steps: tuple[int, ...] = ()
    batch_losses: tuple[float, ...] = ()
    batch_interval: int | None = None

    @property
    def epochs(self) -> int:
        """Number of epochs recorded."""
        return len(self.epoch_train_loss)

    @property
    def steps(self) -> int:
        """Total number of minibatch updates recorded."""
        return sum(self.epoch_steps)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (lists of floats); :meth:`from_dict` inverts it."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    def to_json(self, indent: int | None = 2) -> str:
        """The history as a JSON string."""
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: Any) -> History:
        """Rebuild a history from :meth:`to_dict` output, checking every field.

        Raises ``InvalidArgumentError`` on unknown or missing keys, non-numbers, or
        per-epoch lists of different lengths.
        """
        if not isinstance(data, dict):
            raise InvalidArgumentError(f"history: expected a dict, got {type(data).__name__}")
        names = {f.name for f in fields(cls)}
        if set(data) != names:
            raise InvalidArgumentError(
                f"history: expected keys {sorted(names)}, got {sorted(map(str, data))}"
            )
        interval = data["batch_interval"]
        if interval is not None and (
            isinstance(interval, bool) or not isinstance(interval, int) or interval <= 0
        ):
            raise InvalidArgumentError(
                f"history.batch_interval: expected a positive int or null, got {interval!r}"
            )
        steps = _float_tuple("epoch_steps", data["epoch_steps"])
        if any(s != int(s) or s <= 0 for s in steps):
            raise InvalidArgumentError("history.epoch_steps: expected positive integers")
        history = cls(
            epoch_train_loss=_float_tuple("epoch_train_loss", data["epoch_train_loss"]),
            epoch_train_accuracy=_float_tuple("epoch_train_accuracy", data["epoch_train_accuracy"]),
            epoch_test_loss=_float_tuple("epoch_test_loss", data["epoch_test_loss"]),
            epoch_test_accuracy=_float_tuple("epoch_test_accuracy", data["epoch_test_accuracy"]),
            epoch_time=_float_tuple("epoch_time", data["epoch_time"]),
            epoch_steps=tuple(int(s) for s in steps),
            batch_losses=_float_tuple("batch_losses", data["batch_losses"]),
            batch_interval=interval,
        )
        n = history.epochs
        for name in ("epoch_time", "epoch_steps"):
            if len(getattr(history, name)) != n:
                raise InvalidArgumentError(
                    f"history.{name}: has {len(getattr(history, name))} entries for {n} epochs"
                )
        for name in ("epoch_train_accuracy", "epoch_test_loss", "epoch_test_accuracy"):
            if len(getattr(history, name)) not in (0, n):
                raise InvalidArgumentError(
                    f"history.{name}: has {len(getattr(history, name))} entries for {n} epochs"
                )
        if interval is None and history.batch_losses:
            raise InvalidArgumentError("history.batch_losses: entries without a batch_interval")
        if interval is not None and len(history.batch_losses) != history.steps // interval:
            raise InvalidArgumentError(
                f"history.batch_losses: expected {history.steps // interval} entries "
                f"({history.steps} steps, one every {interval}), got {len(history.batch_losses)}"
            )
        return history

    @classmethod
    def from_json(cls, text: str) -> History:
        """Rebuild a history from :meth:`to_json` output."""
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, TypeError) as exc:
            raise InvalidArgumentError(f"history: not valid JSON ({exc})") from exc
        return cls.from_dict(data)


# --------------------------------------------------------------------------- events


@dataclass(frozen=True)
class BatchEnd:
    """Sent to the callback after batch ``batch`` (1-based) of ``n_batches`` in ``epoch``.

    ``epoch`` counts from 1 across resumed runs (a run resumed after 3 epochs starts at
    epoch 4); ``loss`` is that batch's mean loss; ``batches_done`` is the number of
    batches finished in this epoch so far (equal to ``batch``).
    """

    epoch: int
    batch: int
    n_batches: int
    loss: float

    @property
    def batches_done(self) -> int:
        """Batches finished in this epoch (``batch``)."""
        return self.batch


@dataclass(frozen=True)
class EpochEnd:
    """Sent to the callback after every epoch, with copies the callback may keep.

    ``epoch`` is the 1-based epoch just finished and ``last_epoch`` the one this call to
    :func:`fit` stops after; ``params`` and ``opt_state`` are the state after the epoch
    (fresh copies) and ``history`` the history so far. Together with the rng's current
    state they are exactly what resuming needs.
    """

    epoch: int
    last_epoch: int
    params: Params
    opt_state: OptState
    history: History


Event: TypeAlias = BatchEnd | EpochEnd
Callback: TypeAlias = Callable[[Event], None]


class TrainingDivergedError(NonFiniteError):
    """Training produced a NaN or infinite loss or parameters.

    ``epoch`` and ``batch`` (1-based) say where; ``params`` holds the last good
    parameters (see :func:`fit`), and ``history`` the completed epochs.
    """

    def __init__(
        self, message: str, *, epoch: int, batch: int, params: Params, history: History
    ) -> None:
        super().__init__(message)
        self.epoch = epoch
        self.batch = batch
        self.params = params
        self.history = history


# --------------------------------------------------------------------------- kernels

# In-place forward and backward for the built-in activations. Forward writes act(z) into
# ``a``; backward multiplies the upstream gradient ``d`` by act'(z) in place and may
# overwrite ``z`` (no longer needed then). The results equal funcnn.core.activations' bit for bit.
_Forward = Callable[[FloatArray, FloatArray], None]
_Backward = Callable[[FloatArray, FloatArray, FloatArray, Array], None]


def _relu_fwd(z: FloatArray, a: FloatArray) -> None:
    np.maximum(z, 0, out=a)


def _relu_bwd(z: FloatArray, a: FloatArray, d: FloatArray, mask: Array) -> None:
    np.greater(z, 0, out=mask)
    np.multiply(d, mask, out=d)


def _leaky_fwd(z: FloatArray, a: FloatArray) -> None:
    # max(z, s z) is z for z > 0 and s z otherwise, because 0 < s < 1.
    np.multiply(z, LEAKY_RELU_SLOPE, out=a)
    np.maximum(z, a, out=a)


def _leaky_bwd(z: FloatArray, a: FloatArray, d: FloatArray, mask: Array) -> None:
    np.less_equal(z, 0, out=mask)
    np.multiply(d, LEAKY_RELU_SLOPE, out=d, where=mask)


def _sigmoid_fwd(z: FloatArray, a: FloatArray) -> None:
    special.expit(z, out=a)


def _sigmoid_bwd(z: FloatArray, a: FloatArray, d: FloatArray, mask: Array) -> None:
    np.subtract(1, a, out=z)
    z *= a
    d *= z


def _tanh_fwd(z: FloatArray, a: FloatArray) -> None:
    np.tanh(z, out=a)


def _tanh_bwd(z: FloatArray, a: FloatArray, d: FloatArray, mask: Array) -> None:
    np.multiply(a, a, out=z)
    np.subtract(1, z, out=z)
    d *= z


def _softplus_fwd(z: FloatArray, a: FloatArray) -> None:
    np.logaddexp(0, z, out=a)


def _softplus_bwd(z: FloatArray, a: FloatArray, d: FloatArray, mask: Array) -> None:
    special.expit(z, out=z)
    d *= z


def _identity_bwd(z: FloatArray, a: FloatArray, d: FloatArray, mask: Array) -> None:
    return None


_KERNELS: dict[str, tuple[_Forward | None, _Backward]] = {
    "relu": (_relu_fwd, _relu_bwd),
    "leaky_relu": (_leaky_fwd, _leaky_bwd),
    "sigmoid": (_sigmoid_fwd, _sigmoid_bwd),
    "tanh": (_tanh_fwd, _tanh_bwd),
    "softplus": (_softplus_fwd, _softplus_bwd),
    "identity": (None, _identity_bwd),  # None: a aliases z
}


def _generic_kernels(act: Activation) -> tuple[_Forward, _Backward]:
    """Allocating fallback for an activation without an in-place kernel."""

    def fwd(z: FloatArray, a: FloatArray) -> None:
        np.copyto(a, act.fn(z))

    def bwd(z: FloatArray, a: FloatArray, d: FloatArray, mask: Array) -> None:
        d *= act.derivative(z, a)

    return fwd, bwd


def _kernels(name: str) -> tuple[_Forward | None, _Backward]:
    act = ACTIVATIONS[name]
    builtin = _KERNELS.get(name)
    if builtin is not None and act is _BUILTIN_ACTIVATIONS.get(name):
        return builtin
    return _generic_kernels(act)


_BUILTIN_ACTIVATIONS = dict(ACTIVATIONS)


@dataclass(frozen=True)
class _Views:
    """The workspace's buffers cut to one batch size ``r`` (rows ``[:r]``)."""

    x: FloatArray
    y: Array
    z: tuple[FloatArray, ...]
    a: tuple[FloatArray, ...]
    dz: tuple[FloatArray, ...]
    mask: tuple[Array, ...]
    base: Array
    flat: Array
    row_max: FloatArray
    row_sum: FloatArray


class _Workspace:
    """Preallocated buffers for one batch size, and the fused training step on them."""

    def __init__(
        self,
        spec: MLP,
        batch: int,
        dtype: np.dtype[Any],
        loss: Loss,
        fused_ce: bool,
        y_example: Array,
    ) -> None:
        self.n_layers = spec.n_layers
        self.loss = loss
        self.fused_ce = fused_ce
        self.n_out = spec.n_out
        widths = spec.sizes[1:]
        self.acts: list[tuple[_Forward | None, _Backward]] = [
            _kernels(name) for name in spec.hidden_activations
        ]
        z = [np.empty((batch, w), dtype=dtype) for w in widths]
        self._full = _Views(
            x=np.empty((batch, spec.n_in), dtype=dtype),
            y=np.empty((batch, *y_example.shape[1:]), dtype=y_example.dtype),
            z=tuple(z),
            a=tuple(
                z[i] if fwd is None else np.empty_like(z[i]) for i, (fwd, _) in enumerate(self.acts)
            ),
            dz=tuple(np.empty((batch, w), dtype=dtype) for w in widths),
            mask=tuple(np.empty((batch, w), dtype=bool) for w in widths[:-1]),
            # Row r's label sits at flat index r * n_out + label in a (batch, n_out) array.
            base=np.arange(batch, dtype=np.int64) * spec.n_out,
            flat=np.empty(batch, dtype=np.int64),
            row_max=np.empty((batch, 1), dtype=dtype),
            row_sum=np.empty((batch, 1), dtype=dtype),
        )
        self._views = {batch: self._full}
        self.gW = [np.empty((n_in, n_out), dtype=dtype) for n_in, n_out in spec.layer_shapes]
        self.gb = [np.empty(n_out, dtype=dtype) for n_out in widths]
        self._layer_shapes = spec.layer_shapes
        self._dtype = dtype
        self._fused: dict[int, list[FusedUpdate | None]] = {}

    def fused_updates(self, r: int) -> list[FusedUpdate | None]:
        """Per layer, the one-call ``W -= a.T @ g`` for batches of ``r`` rows where it
        gives the bits of ``matmul`` then ``-=`` (see :mod:`funcnn.training._blas`), else None."""
        found = self._fused.get(r)
        if found is None:
            found = [
                None if r == 1 else fused_update_for(r, n_in, n_out, self._dtype)
                for n_in, n_out in self._layer_shapes
            ]
            self._fused[r] = found
        return found

    def views(self, r: int) -> _Views:
        """Buffers for a batch of ``r`` rows (cached: at most two sizes occur per fit)."""
        cached = self._views.get(r)
        if cached is None:
            f = self._full
            cached = _Views(
                f.x[:r],
                f.y[:r],
                tuple(v[:r] for v in f.z),
                tuple(v[:r] for v in f.a),
                tuple(v[:r] for v in f.dz),
                tuple(v[:r] for v in f.mask),
                f.base[:r],
                f.flat[:r],
                f.row_max[:r],
                f.row_sum[:r],
            )
            self._views[r] = cached
        return cached

    def forward(
        self, W: list[FloatArray], b: list[FloatArray], x: FloatArray, y: Array, v: _Views
    ) -> tuple[float, int | None]:
        """Forward pass and loss on batch ``x``, ``y`` (views ``v``); dL/dlogits into ``v.dz[-1]``.

        Returns ``(mean loss, number of correct argmax predictions)``; the count is
        ``None`` when the loss is not the fused one (the caller scores the logits, which
        are then left intact in ``v.z[-1]``).
        """
        matmul = np.matmul
        n = self.n_layers
        acts = self.acts
        a = x
        for i in range(n):
            z = v.z[i]
            matmul(a, W[i], out=z)
            z += b[i]
            if i < n - 1:
                fwd = acts[i][0]
                a = v.a[i]
                if fwd is not None:
                    fwd(z, a)
        if self.fused_ce:
            return self._softmax_ce(v.z[-1], y, v.dz[-1], v)
        value, dz = self.loss.value_and_grad(v.z[-1], y)
        np.copyto(v.dz[-1], dz)
        return value, None

    def backward(
        self, W: list[FloatArray], b: list[FloatArray], x: FloatArray, v: _Views, lr: float | None
    ) -> None:
        """Backpropagate ``v.dz[-1]`` after :meth:`forward` on the same batch.

        With ``lr=None`` the gradients land in ``gW`` and ``gb``. With a number, this is
        fused plain SGD: backprop is linear in the loss gradient, so scaling the (small)
        logits gradient by ``lr`` first makes every layer's gradient come out already
        multiplied by ``lr``, and each parameter needs one in-place subtraction
        (``W -= gW``) instead of a multiply and a subtract. Where :mod:`funcnn.training._blas`
        finds it bit-identical, the weight gradient's product subtracts itself from ``W``
        in the same BLAS call (no ``gW``, no extra pass). Each ``W`` is updated after its
        last use.
        """
        matmul = np.matmul
        add_reduce = np.add.reduce
        acts = self.acts
        r = x.shape[0]
        g = v.dz[-1]
        fused: list[FusedUpdate | None] = [None] * self.n_layers
        if lr is not None:
            g *= lr
            fused = self.fused_updates(r)
        for i in range(self.n_layers - 1, -1, -1):
            a_in = x if i == 0 else v.a[i - 1]
            gW = self.gW[i]
            gb = self.gb[i]
            # With a fused update, W[i] -= a_in.T @ g is one BLAS call, made below once
            # W[i] has been used for the next gradient.
            update = fused[i]
            if update is None:
                if r == 1:
                    # A (n_in, 1) @ (1, n_out) product is a plain outer product: the same
                    # bits, without BLAS's overhead for an inner dimension of 1.
                    np.multiply(a_in.T, g, out=gW)
                else:
                    matmul(a_in.T, g, out=gW)
            if lr is None:
                add_reduce(g, axis=0, out=gb)
            elif r == 1:
                b[i] -= g[0]
            else:
                add_reduce(g, axis=0, out=gb)
                b[i] -= gb
            if i > 0:
                d = v.dz[i - 1]
                matmul(g, W[i].T, out=d)
                if update is not None:  # before the activation's backward reuses buffers
                    update(W[i], a_in, g)
                acts[i - 1][1](v.z[i - 1], v.a[i - 1], d, v.mask[i - 1])
                g = d
            elif update is not None:
                update(W[i], a_in, g)
            if lr is not None and update is None:
                W[i] -= gW

    @staticmethod
    def _softmax_ce(z: FloatArray, y: Array, p: FloatArray, v: _Views) -> tuple[float, int]:
        """Fused softmax cross-entropy for integer labels; writes dL/dz into ``p``.

        ``z`` is shifted in place (the logits are not needed afterwards). Per sample the
        loss is ``log(sum(exp(z - max))) - (z_y - max)``, the gradient
        ``(softmax(z) - onehot(y)) / r``.
        """
        r = z.shape[0]
        m = v.row_max
        s = v.row_sum
        np.maximum.reduce(z, axis=1, keepdims=True, out=m)
        z -= m
        np.exp(z, out=p)
        np.add.reduce(p, axis=1, keepdims=True, out=s)
        if r == 1:
            # One sample (per-sample SGD): scalars are cheaper than array bookkeeping.
            label = int(y[0])
            z_label = float(z[0, label])
            total = float(s[0, 0])
            p /= total
            p[0, label] -= 1
            return math.log(total) - z_label, int(z_label == 0.0)
        flat = v.flat
        np.add(v.base, y, out=flat)
        zy = z.reshape(-1).take(flat)
        value = (float(np.log(s).sum()) - float(zy.sum())) / r
        # After the shift the largest logit is exactly 0.
        correct = r - int(np.count_nonzero(zy))
        s *= r
        p /= s
        p.reshape(-1)[flat] -= 1 / r
        return value, correct


# --------------------------------------------------------------------------- evaluation


def _labels_for_accuracy(y: Array, n_out: int) -> Array | None:
    """Class labels to score argmax predictions against, or None when not applicable."""
    if n_out < 2:
        return None
    if y.dtype.kind == "f":
        labels: Array = np.argmax(y, axis=1)
        return labels
    return y


def _evaluate_unchecked(
    spec: MLP,
    params: Params,
    x: FloatArray,
    y: Array,
    loss: Loss,
    labels: Array | None,
    chunk: int = 4096,
) -> tuple[float, float | None]:
    total = 0.0
    correct = 0
    n = x.shape[0]
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        logits = apply_unchecked(spec, params, x[start:stop])
        if labels is not None:
            correct += int(np.count_nonzero(np.argmax(logits, axis=1) == labels[start:stop]))
        # Every loss is a mean over the batch, so chunk means combine weighted by size.
        total += loss.value_and_grad(logits, y[start:stop])[0] * (stop - start)
    return total / n, (correct / n if labels is not None else None)


def evaluate(
    spec: MLP,
    params: Params,
    x: ArrayLike,
    y: ArrayLike,
    loss: str | Loss = "softmax_cross_entropy",
) -> tuple[float, float | None]:
    """Mean loss and accuracy of the network on a data set, in chunks of 4096 samples.

    ``x`` is ``(N, n_in)`` in the params' dtype, ``y`` integer labels ``(N,)`` or float
    targets ``(N, n_out)``. Accuracy is the fraction of samples whose largest logit is
    the label (for float targets: the targets' largest entry); it is ``None`` when the
    network has a single output. Raises ``NonFiniteError`` if the loss overflows.
    """
    dtype = check_params(spec, params)
    xs = _check_dataset_x(spec, x, dtype, "x")
    resolved = get_loss(loss)
    ys = check_targets(ensure_array("y", y), xs.shape[0], spec.n_out, dtype, resolved.target_kind)
    with np.errstate(all="ignore"):
        value, accuracy = _evaluate_unchecked(
            spec, params, xs, ys, resolved, _labels_for_accuracy(ys, spec.n_out)
        )
    if not math.isfinite(value):
        raise NonFiniteError(
            f"evaluate: the mean loss is {value}: the network's outputs overflow for these "
            "params and inputs"
        )
    return value, accuracy


# --------------------------------------------------------------------------- fit


def _check_dataset_x(spec: MLP, x: Any, dtype: np.dtype[Any], name: str) -> FloatArray:
    """``x`` as a validated ``(N, n_in)`` data set of ``dtype`` (not copied)."""
    arr = ensure_array(name, x)
    if arr.ndim != 2 or arr.shape[1] != spec.n_in:
        raise InvalidArgumentError(
            f"{name}: expected a 2-D array of shape (N, {spec.n_in}), got shape {arr.shape}"
        )
    # Dtype, emptiness and the first row through the core's own check (same messages).
    check_inputs(spec, arr[:1], dtype, name)
    _check_finite_fast(name, arr)
    return arr


def _check_finite_fast(name: str, a: Array) -> None:
    """Raise like :func:`funcnn.core.validation.check_finite` if ``a`` holds NaN or inf.

    A data set can be large: one BLAS dot product reads it once without temporaries,
    and any NaN or inf makes it non-finite. Only then (or if the squares overflow, or
    ``a`` is not contiguous) does the exact check run, which names the first bad entry.
    """
    if a.size and a.flags.c_contiguous:
        flat = a.reshape(-1)
        with np.errstate(all="ignore"):
            total = float(np.dot(flat, flat))
        if math.isfinite(total):
            return
    check_finite(name, a)


def _copy_params(leaves: list[Array], treedef: Any) -> Params:
    params: Params = tree_unflatten(treedef, [leaf.copy() for leaf in leaves])
    return params


def _all_finite(leaves: list[Array]) -> bool:
    return all(bool(np.isfinite(leaf).all()) for leaf in leaves)


def fit(
    spec: MLP,
    params: Params,
    optimizer: Optimizer,
    x_train: ArrayLike,
    y_train: ArrayLike,
    *,
    epochs: int,
    batch_size: int | None,
    rng: np.random.Generator | None,
    loss: str | Loss = "softmax_cross_entropy",
    x_test: ArrayLike | None = None,
    y_test: ArrayLike | None = None,
    opt_state: OptState | None = None,
    history: History | None = None,
    shuffle: bool = True,
    drop_last: bool = False,
    log_every: int | None = None,
    callback: Callback | None = None,
    callback_every: int = 1,
) -> tuple[Params, OptState, History]:
    """Train ``params`` for ``epochs`` epochs of minibatch updates by ``optimizer``.

    Arguments:

    - ``x_train`` ``(N, n_in)`` in the params' dtype; ``y_train`` integer labels
      ``(N,)`` or float targets ``(N, n_out)`` (validated once, never copied).
    - ``batch_size``: 1 (per-sample SGD) up to ``N``; ``None`` means ``N`` (full batch).
      With ``drop_last`` a final partial batch is skipped, otherwise it is a smaller
      batch of its own (its loss is a mean over its own samples).
    - ``rng``: each epoch starts with ``order = rng.permutation(N)`` (advancing ``rng``)
      and takes batches ``order[0:B]``, ``order[B:2B]``, ... With ``shuffle=False`` the
      data are used in order and ``rng`` may be ``None``; with a single full batch the
      order cannot matter and ``rng`` is not used either.
    - ``x_test``, ``y_test``: evaluated after every epoch (loss and accuracy).
    - ``opt_state``, ``history``: continue a previous run (default: ``optimizer.init``
      and an empty history). Epoch numbers and the ``log_every`` count carry on.
    - ``log_every``: record the loss of every ``log_every``-th batch in
      ``History.batch_losses`` (default: the history's interval, else none).
    - ``callback(event)``: called with :class:`BatchEnd` after every
      ``callback_every``-th batch (and each epoch's last) and with :class:`EpochEnd`
      after every epoch, e.g. to drive a progress bar or write checkpoints.

    Returns ``(params, opt_state, history)``, all new objects; the history includes the
    epochs of the ``history`` passed in.

    If a batch's loss is NaN or infinite, or the parameters are not finite at the end of
    an epoch, raises :class:`TrainingDivergedError` (a ``NonFiniteError``) naming the
    epoch and batch, before that batch updates anything. Its ``params`` are the last
    good parameters: the ones the failing batch was evaluated with (the result of the
    last completed update) when they are all finite, otherwise those at the start of the
    failing epoch (the initial ones in the first epoch).
    """
    # ---- validate everything once
    dtype = check_params(spec, params)
    if not isinstance(optimizer, Optimizer):
        raise ArgumentTypeError(
            f"optimizer: expected a funcnn Optimizer (e.g. funcnn.training.optimizers.sgd(0.1)), "
            f"got {type(optimizer).__name__}"
        )
    resolved = get_loss(loss)
    x = _check_dataset_x(spec, x_train, dtype, "x_train")
    n = x.shape[0]
    y = check_targets(
        ensure_array("y_train", y_train), n, spec.n_out, dtype, resolved.target_kind, "y_train"
    )
    if (x_test is None) != (y_test is None):
        raise InvalidArgumentError("x_test, y_test: pass both or neither")
    xt: FloatArray | None = None
    yt: Array | None = None
    if x_test is not None:
        xt = _check_dataset_x(spec, x_test, dtype, "x_test")
        yt = check_targets(
            ensure_array("y_test", y_test),
            xt.shape[0],
            spec.n_out,
            dtype,
            resolved.target_kind,
            "y_test",
        )
    n_epochs = check_positive_int("epochs", epochs)
    batch = n if batch_size is None else check_positive_int("batch_size", batch_size)
    if batch > n:
        raise InvalidArgumentError(
            f"batch_size: {batch} is larger than the training set ({n} samples)"
        )
    for flag_name, flag in (("shuffle", shuffle), ("drop_last", drop_last)):
        if not isinstance(flag, bool):
            raise ArgumentTypeError(f"{flag_name}: expected a bool, got {flag!r}")
    n_batches = n // batch if drop_last else -(-n // batch)
    use_order = shuffle and batch < n  # one full batch: order cannot matter
    if use_order and not isinstance(rng, np.random.Generator):
        raise ArgumentTypeError(
            f"rng: expected a numpy.random.Generator to shuffle with "
            f"(np.random.default_rng(seed)), got {type(rng).__name__}"
        )
    if rng is not None and not isinstance(rng, np.random.Generator):
        raise ArgumentTypeError(f"rng: expected a numpy.random.Generator, got {type(rng).__name__}")
    past = History() if history is None else history
    if not isinstance(past, History):
        raise ArgumentTypeError(f"history: expected a History, got {type(past).__name__}")
    interval = (
        past.batch_interval if log_every is None else check_positive_int("log_every", log_every)
    )
    if past.batch_interval is not None and interval != past.batch_interval:
        raise InvalidArgumentError(
            f"log_every: {interval} differs from the history's batch_interval "
            f"{past.batch_interval}; a history must keep one interval"
        )
    if callback is not None and not callable(callback):
        raise ArgumentTypeError(f"callback: expected a callable, got {type(callback).__name__}")
    every = check_positive_int("callback_every", callback_every)
    p_leaves, treedef = tree_flatten(params)
    if opt_state is None:
        opt_state = optimizer.init(params)
    count, slot_leaves = optimizer.check_state(opt_state, p_leaves, treedef)

    labels = _labels_for_accuracy(y, spec.n_out)
    test_labels = None if yt is None else _labels_for_accuracy(yt, spec.n_out)
    fused_ce = resolved.name == "softmax_cross_entropy" and y.dtype.kind != "f" and spec.n_out > 1

    # ---- private state: copies of the parameters and slots, scratch, batch buffers
    cur = [leaf.copy() for leaf in p_leaves]
    slots = {name: [a.copy() for a in leaves] for name, leaves in slot_leaves.items()}
    scratch = [np.empty_like(leaf) for leaf in p_leaves]
    ws = _Workspace(spec, batch, dtype, resolved, fused_ce, y)
    grads: list[Array] = []
    for gW, gb in zip(ws.gW, ws.gb, strict=True):
        grads += [gW, gb]  # canonical leaf order of a layer dict: "W" before "b"
    apply_update = optimizer._apply

    record: dict[str, list[Any]] = {
        f.name: list(getattr(past, f.name)) for f in fields(History) if f.name != "batch_interval"
    }
    global_step = past.steps
    first_epoch = past.epochs + 1
    last_epoch = past.epochs + n_epochs
    good_snapshot: list[Array] = p_leaves  # the caller's arrays: read, never written

    def snapshot_history() -> History:
        return History(**{k: tuple(v) for k, v in record.items()}, batch_interval=interval)

    def diverged(epoch: int, batch_no: int, what: str) -> TrainingDivergedError:
        keep = cur if _all_finite(cur) else good_snapshot
        return TrainingDivergedError(
            f"training diverged: {what} at epoch {epoch}, batch {batch_no} of {n_batches}; "
            "the error's .params hold the last good parameters (try a smaller learning "
            "rate)",
            epoch=epoch,
            batch=batch_no,
            params=_copy_params(keep, treedef),
            history=snapshot_history(),
        )

    full_views = ws.views(batch)
    W = cur[0::2]  # the layers' arrays, updated in place: these lists stay valid
    bias = cur[1::2]
    # Plain SGD (no momentum, no weight decay) is fused into backprop (see backward).
    fused_sgd = (
        optimizer.schedule
        if isinstance(optimizer, SGD) and not optimizer.momentum and not optimizer.weight_decay
        else None
    )
    correct = 0
    perf = time.perf_counter
    with np.errstate(all="ignore"):  # non-finite values are detected and reported below
        for epoch in range(first_epoch, last_epoch + 1):
            started = perf()
            order = rng.permutation(n) if use_order and rng is not None else None
            loss_sum = 0.0
            correct_sum = 0
            seen = 0
            for bi in range(n_batches):
                lo = bi * batch
                hi = min(lo + batch, n)
                r = hi - lo
                views = full_views if r == batch else ws.views(r)
                if order is not None:
                    idx = order[lo:hi]
                    xb = x.take(idx, axis=0, out=views.x, mode="clip")
                    yb = y.take(idx, axis=0, out=views.y, mode="clip")
                else:
                    xb = x[lo:hi]
                    yb = y[lo:hi]
                value, hits = ws.forward(W, bias, xb, yb, views)
                if not math.isfinite(value):
                    raise diverged(epoch, bi + 1, f"the loss is {value}")
                if hits is not None:
                    correct = hits
                elif labels is not None:
                    truth = yb if yb.dtype.kind != "f" else np.argmax(yb, axis=1)
                    correct = int(np.count_nonzero(np.argmax(views.z[-1], axis=1) == truth))
                if fused_sgd is not None:
                    ws.backward(W, bias, xb, views, fused_sgd.value(count))
                else:
                    ws.backward(W, bias, xb, views, None)
                    apply_update(cur, grads, slots, scratch, count, cur)
                count += 1
                global_step += 1
                loss_sum += value * r
                correct_sum += correct
                seen += r
                if interval is not None and global_step % interval == 0:
                    record["batch_losses"].append(value)
                if callback is not None and ((bi + 1) % every == 0 or bi + 1 == n_batches):
                    callback(BatchEnd(epoch, bi + 1, n_batches, value))
            if not _all_finite(cur):
                raise diverged(epoch, n_batches, "the parameters are not finite")
            record["epoch_train_loss"].append(loss_sum / seen)
            if labels is not None:
                record["epoch_train_accuracy"].append(correct_sum / seen)
            if xt is not None and yt is not None:
                current = tree_unflatten(treedef, cur)
                test_loss, test_acc = _evaluate_unchecked(
                    spec, current, xt, yt, resolved, test_labels
                )
                record["epoch_test_loss"].append(test_loss)
                if test_acc is not None:
                    record["epoch_test_accuracy"].append(test_acc)
            record["epoch_steps"].append(n_batches)
            record["epoch_time"].append(perf() - started)
            if epoch < last_epoch:
                good_snapshot = [leaf.copy() for leaf in cur]
            if callback is not None:
                callback(
                    EpochEnd(
                        epoch,
                        last_epoch,
                        _copy_params(cur, treedef),
                        _state(count, slots, treedef, copy=True),
                        snapshot_history(),
                    )
                )
    new_params: Params = tree_unflatten(treedef, cur)
    return new_params, _state(count, slots, treedef, copy=False), snapshot_history()


def _state(count: int, slots: dict[str, list[Array]], treedef: Any, *, copy: bool) -> OptState:
    trees = {
        n: tree_unflatten(treedef, [a.copy() if copy else a for a in v]) for n, v in slots.items()
    }
    return make_state(count, trees)
