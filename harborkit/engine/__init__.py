"""The check engine: check model, plugin discovery, profile, waivers, run."""
