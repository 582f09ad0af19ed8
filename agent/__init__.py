"""The on-appliance agent's bash source (package data)."""
