"""Stage 4, registry: the registry HTTP client, the local registry, push and promote.

Works on images by name and digest only: it may import the ground floor, never build/ (no
builder, no debootstrap, no SBOM tooling behind a push) or deploy/.
"""
