"""Placeholder until this protocol lands."""
