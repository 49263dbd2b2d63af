"""High availability: oned.conf's host and VM hooks, the host_error hook's rules, and the
front-end's Pacemaker cluster.
"""
