"""Merging runs into one dataset: input runs, cross-run twins, the merged files."""
