"""flightmesh package (being built)."""
