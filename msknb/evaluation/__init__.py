"""Notebook 07: how close synthetic images are to real ones, and the report."""
