"""Invoke collections: thin wrappers that parse flags and call into the nbship package."""
