"""Stage 5, deploy: the stack (compose or Swarm), the release ledger and rollback.

Deploys digests that the registry resolves: it may import the ground floor and registry/, never
build/ or notebooks/ (a rollback must work with no source tree and no builder).
"""
