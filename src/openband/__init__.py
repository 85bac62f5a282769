"""OpenBand: a self-hosted voice & messaging platform, wire-compatible with Bandwidth's APIs."""

__version__ = "0.1.0"
