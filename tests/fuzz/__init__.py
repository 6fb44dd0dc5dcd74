"""Differential fuzzing of the mesh against DuckDB over the same data in one file (issue 10 item 4).

``data`` (the rows), ``mesh`` (the five engines, the oracle file, the descriptor), ``generator``
(seeded random queries), ``differential`` (one query through both, classified), ``shrink`` (a
failing query reduced to a minimal one that fails the same way), ``regressions`` (the shrunk
cases kept).
"""
