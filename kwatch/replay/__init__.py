"""Replay and export of kwatch recordings (transport model, CLI, exporters)."""
