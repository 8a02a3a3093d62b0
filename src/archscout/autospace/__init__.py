"""AutoSpace-style search-space evolution (algorithms.md §4, a labelled reconstruction)."""
