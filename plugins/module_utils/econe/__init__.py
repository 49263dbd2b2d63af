"""The EC2 Query API's rules (OpenNebula's econe server): credentials and signatures, the
AWS ids of onekit's objects, the state map, filters and paging, and one module per group
of actions (instances, images, volumes, addresses, keypairs, tags), each ending with its
``ACTIONS``; ``actions.ACTIONS`` joins them. The HTTP side is ``onekit.server.econe_api``."""
