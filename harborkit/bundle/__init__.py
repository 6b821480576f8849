"""Air-gap bundles: build, verify, inspect, load."""
