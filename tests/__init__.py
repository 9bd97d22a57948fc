"""The funcnn test suite; its modules mirror the package's modules."""
