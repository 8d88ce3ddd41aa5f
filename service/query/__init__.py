"""Querying stored points: time units, aggregators, group-bys and the engine."""
