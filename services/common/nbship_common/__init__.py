"""Code shared by the nbship services: settings, logging, health, errors and request parsing."""
