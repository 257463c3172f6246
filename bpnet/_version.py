"""The bpnet version, recorded in every fitted model."""

__version__ = "0.2.0.dev0"
