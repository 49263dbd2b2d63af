"""Example VM templates for the embedded default (``make run``)."""
