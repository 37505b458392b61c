"""Where things live in the repository and in the local state directory."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VERSION_FILE = ROOT / "VERSION"
SERVICES = ROOT / "services"
DEPLOY = ROOT / "deploy"
COMPOSE_FILE = DEPLOY / "compose.yaml"
REGISTRY_DIR = ROOT / "registry"
BUILD = ROOT / "build"
WHEELHOUSE = BUILD / "wheelhouse"
ENV_EXAMPLE = ROOT / ".env.example"
