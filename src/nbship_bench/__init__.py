"""Benchmarks of nbship's targets: gateway overhead, billing throughput, image size, rebuild time.

Every speed figure is a ratio of two things measured side by side in one run, because the
machines these run on are shared and noisy; absolute numbers are recorded too, for context.
Each benchmark writes bench/results/NAME.json; bench/results/README.md tabulates the latest.
"""
