"""umrunbook: change packages for in-place upgrades of VMware Usage Meter appliances."""

__version__ = "0.1.0"
