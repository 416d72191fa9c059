"""Data files (YAML) shipped with the moderation package."""
