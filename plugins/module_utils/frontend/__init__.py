"""A front-end instance: its home directory, its oned.conf, and how modules open it. The one
layer that knows every feature.
"""
