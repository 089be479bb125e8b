"""upgrader: zero-downtime rolling upgrades of an HA OpenStack control plane."""

__version__ = "0.1.0"
