"""OCCI 0.8, OpenNebula 4.6's OCCI server (the guide's 7.3 and 7.4): its configuration
(``config``), the instance-type and network templates (``templates``), the compute
state changes (``states``) and the rules of each kind of resource (``compute``,
``storage``, ``network``, ``users``). Every rule acts as the caller through the core's
operations; the XML documents are the adapter's (``onekit.server.occi_documents``)."""
