"""Measuring runs: metrics of a dataset and the HTML report."""
