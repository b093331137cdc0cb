"""Providers: registry, service catalogue, slots, geo search."""
