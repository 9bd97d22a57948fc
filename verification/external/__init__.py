"""Checking other people's MLPs: adapters, conformance with funcnn, root-cause diagnosis.

- ``adapters``: a notebook-style MLP (its own weight layout, per-sample loops, a fused
  update, module globals or a class's attributes, no biases) as a funcnn-layout
  ``value_and_grad`` in a few lines; ``layout`` says how the notebook stores its
  parameters and data, and converts;
- ``heads``: an output activation and a loss as written by hand (a sigmoid output
  with the quadratic cost, ...) as one :class:`funcnn.Loss`;
- ``conformance``: another implementation against funcnn, and both against finite
  differences (:func:`~verification.external.conformance.check_conformance`);
- ``diagnosis``: the first wrong step of a dense MLP's backprop, in words
  (:func:`~verification.external.diagnosis.diagnose_mlp`), built from
  ``diagnosis_probe`` (crafted inputs, funcnn's own signals), ``diagnosis_chain`` (the
  chain one step at a time), ``diagnosis_mistakes`` (the classic mistakes as
  candidates), ``diagnosis_match`` (matching a signal to a candidate) and
  ``diagnosis_totals`` (the loss value and the batch reduction); ``diagnosis_l2`` is
  the L2 term in each convention and ``diagnosis_scale`` the loss's scale (a sum over
  the batch, a multiple of funcnn's loss), each read off an implementation's loss.

May import: verification.engine, verification.reporting.
"""
