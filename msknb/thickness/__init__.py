"""Notebook 06: muscle thickness from aponeurosis masks and its agreement statistics."""
