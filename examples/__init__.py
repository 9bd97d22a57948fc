"""Runnable reproductions of classic from-scratch MLP setups, built on the public API."""
