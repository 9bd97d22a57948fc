"""Checking other people's MLPs: adapters, conformance with funcnn, root-cause diagnosis.

- ``adapters``: a notebook-style MLP (its own weight layout, per-sample loops, a fused
  update) as a funcnn-layout ``value_and_grad`` in a few lines;
- ``conformance``: another implementation against funcnn, and both against finite
  differences (:func:`~verification.external.conformance.check_conformance`);
- ``diagnosis``: the first wrong step of a dense MLP's backprop, in words
  (:func:`~verification.external.diagnosis.diagnose_mlp`), built from
  ``diagnosis_probe`` (crafted inputs, funcnn's own signals), ``diagnosis_chain`` (the
  chain one step at a time), ``diagnosis_mistakes`` (the classic mistakes as
  candidates), ``diagnosis_match`` (matching a signal to a candidate) and
  ``diagnosis_totals`` (the loss value and the batch reduction).

May import: verification.engine, verification.reporting.
"""
