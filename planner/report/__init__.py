"""Rendering a plan: the terminal report (rich) and the JSON export."""
