"""The command-line tools: oneuser, onegroup, oneacl, onekit-server (one module each)."""
