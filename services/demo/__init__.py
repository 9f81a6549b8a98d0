"""Demo data for `make run`: one fictional county medical community with its
institutions, teams, staff, residents, contracts, chronic-disease patients and
two weeks of sessions. Deterministic (fixed seed) and idempotent.
"""
