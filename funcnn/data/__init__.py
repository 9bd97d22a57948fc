"""Data: IDX files and the MNIST data set (find, verify, download, prepare)."""
