"""Interchange with other programs: golden files and the foreign protocol.

- ``golden``: fixed-seed problems with funcnn's outputs and the rule to compare against
  them (:func:`~verification.interchange.golden.export_golden`, ``load_golden``,
  ``verify_golden``); ``golden_format`` is the file layout, readable without numpy, and
  ``golden_cases`` the elementwise cases; ``golden_check`` checks every case and tensor
  of a manifest as it is read; ``golden_results`` judges another program's outputs on
  the cases (``funcnn-verify --compare-golden``) by the same rule, with hints; the
  folder ``schemas/`` holds the JSON Schemas of the manifest and of results files
  (package data);
- ``foreign``: an MLP in another program (any language) checked over stdin/stdout
  (:func:`~verification.interchange.foreign.check_foreign`); ``foreign_protocol`` is the
  JSON-lines conversation, ``foreign_messages`` checks each field of a program's
  answers, ``foreign_problems`` chooses the problems (``--quick`` among them) and
  ``foreign_loss`` evaluates the program's loss at moved parameters (the
  problem kept by the program, only the moves sent: protocol version 2).

The top layer: it exports the catalogue's problems and reuses conformance.

May import: verification.catalogue, verification.external, verification.engine,
verification.reporting.
"""
