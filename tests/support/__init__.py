"""Shared test helpers: private Docker daemons and image archives made in Python."""
