"""The core: errors, the store (schema, db, pool), the template language, users' credentials
and permissions (auth, acl, permissions, session), and the registration points features plug
into (events, shared_writes). Imports nothing else of onekit.
"""
