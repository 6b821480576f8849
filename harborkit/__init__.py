"""harborkit: preflight audits and air-gap bundles for Harbor installs."""

__version__ = "0.1.0"
