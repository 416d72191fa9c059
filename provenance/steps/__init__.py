"""Stamping steps: one plugin per module, looked up by name in ``provenance.registry``."""
