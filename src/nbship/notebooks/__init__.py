"""Notebook tooling: extract exported cells into modules and audit notebooks for reproducibility."""
