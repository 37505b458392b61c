"""Machines to deploy to: a Swarm of Docker Engines on this host, for trying and testing nbship
across nodes (`invoke cluster.up`). It starts engines and networks; it deploys nothing."""
