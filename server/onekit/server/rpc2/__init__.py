"""OpenNebula's own API, XML-RPC on ``POST /RPC2`` of the core port, for the clients people
already drive OpenNebula with: pyone, and through it community.general's ``one_*``
modules and its ``opennebula`` inventory plugin.

An adapter like the others: ``wire`` reads a call and writes an answer in oned's
convention, ``methods`` maps each ``one.<object>.<verb>`` to the core's operations (every
right is the core's), and ``documents`` writes the core's bodies as OpenNebula's XML
documents (``VM``, ``VM_POOL``, ``HOST`` ...), in the order of OpenNebula's XML schemas,
which pyone's bindings are generated from.
"""
