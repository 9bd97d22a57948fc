"""The training loop: :func:`fit` runs epochs of training steps and records a history.

``fit`` is pure from the caller's side: it never modifies the arrays it is given and
returns new parameters, a new optimizer state and a :class:`History`. The only thing it
advances is the explicit ``rng`` (one ``rng.permutation`` per epoch, drawn when the
epoch starts), exactly as :func:`funcnn.init` advances its generator. It validates
everything once (:mod:`funcnn.training.plan`); then a :class:`~funcnn.training.run.Run`
copies the parameters and state and gathers each batch into a reused buffer
(``ndarray.take(..., out=)``; plain slices without shuffling) for the training step
(:mod:`funcnn.training.step`): the core's one backprop engine on reused buffers, then
the optimizer's in-place update. :func:`evaluate` is :mod:`funcnn.training.evaluation`'s.

Resuming is exact: the state after ``k`` epochs is ``(params, opt_state, history)`` plus
the rng's state at that epoch boundary (``rng.bit_generator.state``); calling ``fit``
again with those (``opt_state=``, ``history=``, a generator restored to that state) gives
bit-identical results to an uninterrupted run. :mod:`funcnn.training.checkpoint` stores
all of it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from funcnn.core.losses import Loss
from funcnn.core.spec import MLP
from funcnn.training.chain import Optimizer, OptState
from funcnn.training.evaluation import evaluate
from funcnn.training.history import (
    BatchEnd,
    Callback,
    EpochEnd,
    Event,
    History,
    StopTraining,
    TrainingDivergedError,
)
from funcnn.training.plan import combine_callbacks, hold_out, plan_fit
from funcnn.training.run import Run
from funcnn.typing import Params

__all__ = [
    "BatchEnd",
    "Callback",
    "EpochEnd",
    "Event",
    "History",
    "StopTraining",
    "TrainingDivergedError",
    "evaluate",
    "fit",
]


def fit(
    spec: MLP, params: Params, optimizer: Optimizer, x_train: ArrayLike, y_train: ArrayLike,
    *, epochs: int, batch_size: int | None, rng: np.random.Generator | None,
    loss: str | Loss = "softmax_cross_entropy",
    x_test: ArrayLike | None = None, y_test: ArrayLike | None = None,
    opt_state: OptState | None = None, history: History | None = None,
    shuffle: bool = True, drop_last: bool = False, log_every: int | None = None,
    callback: Callback | Sequence[Callback] | None = None, callback_every: int = 1,
    verbose: int = 0, validation_split: float | None = None,
) -> tuple[Params, OptState, History]:
    """Train ``params`` for ``epochs`` epochs of minibatch updates by ``optimizer``.

    - ``x_train`` ``(N, n_in)`` in the params' dtype; ``y_train`` integer labels
      ``(N,)`` or float targets ``(N, n_out)`` (validated once, never copied).
    - ``batch_size``: 1 (per-sample SGD) up to ``N``; ``None`` means ``N`` (full batch).
      A final partial batch is a batch of its own (its loss a mean over its own
      samples), or is skipped with ``drop_last``.
    - ``rng``: each epoch takes the batches ``order[0:B]``, ``order[B:2B]``, ... of
      ``order = rng.permutation(N)``. With ``shuffle=False`` the data are used in order,
      and then (or with a single full batch) ``rng`` may be ``None``.
    - ``x_test``, ``y_test``: evaluated after every epoch (loss and accuracy). Or
      ``validation_split``, a fraction in (0, 1) of the training samples held out and
      evaluated in their place, drawn from ``rng`` before the first epoch (as
      :func:`funcnn.train_validation_split`); not with ``history=`` (a resumed run would
      hold out other samples: split once and pass ``x_test``/``y_test`` instead).
    - ``opt_state``, ``history``: continue a previous run (default: ``optimizer.init``
      and an empty history); epoch numbers and the ``log_every`` count carry on.
    - ``log_every``: record the loss of every ``log_every``-th batch in
      ``History.batch_losses`` (default: the history's interval, else none).
    - ``callback(event)``, or a sequence of them called in order: with :class:`BatchEnd`
      after every ``callback_every``-th batch (and each epoch's last), with
      :class:`EpochEnd` after every epoch. Returning :class:`StopTraining` on an
      ``EpochEnd`` ends training, and may hand back the parameters and state to return
      (:class:`funcnn.EarlyStopping`; more in :mod:`funcnn.training.callbacks`).
    - ``verbose``: 0 prints nothing; 1 a tqdm bar per epoch (when installed) and a line
      per epoch; 2 the lines only; on stderr (``callback=funcnn.Progress(file=...)``
      writes elsewhere).

    Returns new ``(params, opt_state, history)``; the history includes the epochs of the
    ``history`` passed in. Each batch is one :class:`~funcnn.training.step.Step` (the
    gradient :func:`funcnn.value_and_grad` computes, then the optimizer's update) on
    private copies of the parameters and optimizer state.

    Raises :class:`TrainingDivergedError` (a ``NonFiniteError``), naming the epoch and
    batch and holding the last good parameters and state, if a batch's loss is NaN or
    infinite, if the optimizer finds that an update would overflow its state (Adam
    squaring a huge gradient), or if the parameters or state are not finite after an epoch.

        >>> import numpy as np
        >>> import funcnn as fn
        >>> rng = np.random.default_rng(0)
        >>> x = rng.standard_normal((96, 4))
        >>> y = np.argmax(x[:, :3], axis=1)                  # a learnable 3-class problem
        >>> spec = fn.MLP((4, 16, 3), activation="relu")
        >>> params, opt_state, history = fn.fit(
        ...     spec, fn.init(spec, rng), fn.adam(0.02), x, y, epochs=8, batch_size=32, rng=rng)
        >>> len(history.epoch_train_loss), int(opt_state["count"])  # 3 batches per epoch
        (8, 24)
        >>> history.epoch_train_loss[-1] < history.epoch_train_loss[0]
        True
    """
    data = (x_train, y_train, x_test, y_test)
    if validation_split is not None:
        data = hold_out(data, validation_split, rng, history)
    plan = plan_fit(
        spec, params, optimizer, data, loss=loss,
        epochs=epochs, batch_size=batch_size, rng=rng, history=history, shuffle=shuffle,
        drop_last=drop_last, log_every=log_every,
        callback=combine_callbacks(callback, verbose), callback_every=callback_every,
    )
    with np.errstate(all="ignore"):  # non-finite values are detected and reported
        return Run(spec, params, optimizer, opt_state, plan).train(rng)
