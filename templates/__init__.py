"""Jinja2 and Typst templates (package data)."""
