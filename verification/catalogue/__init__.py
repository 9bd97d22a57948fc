"""The catalogue: every gradient funcnn computes, checked (what ``funcnn-verify`` runs).

- ``suite``: :class:`~verification.catalogue.suite.Check`, the catalogue itself
  (:func:`~verification.catalogue.suite.build_catalogue`), its selection and its run;
- ``activation_check``: each activation's derivative against its own value;
- ``layer_checks``: softmax's Jacobian and VJP, the dense layer's VJP;
- ``loss_checks``: every loss's gradient in the logits;
- ``training_step``: the gradient each optimizer's step applies;
- ``invariants``: exact properties of backprop, checked before any finite difference;
- ``data``: the inputs of the network checks (MNIST when present, random otherwise).

May import: verification.external, verification.engine, verification.reporting.
"""
