"""A loss evaluated at many perturbed parameter vectors at once.

- ``perturbed``: the :class:`~verification.engine.evaluators.perturbed.PerturbedLoss`
  protocol and the choice of evaluator;
- ``generic_loss``: any ``loss_fn(params)``, one call per perturbation;
- ``network_loss``: an MLP, each perturbation evaluated from the one column of
  pre-activations it changes;
- ``logits_loss``: a loss as a function of the logits, one row per perturbation;
- ``loss_rows``: what they share: the loss of moved output rows (one
  ``value_and_grad`` call per perturbation for a loss without ``sample_loss``), a
  kinked loss's kink flags, the properties of an evaluator stepping in unit scales;
- ``sparse_moves``: work shared between coordinate moves of one weight matrix;
- ``parallel``: a ``generic_loss``'s points evaluated on joblib workers (processes, a
  Dask cluster), the serial numbers bit for bit.

May import: verification.engine.common.
"""
