"""OneGate: per-VM tokens, the metrics guests push, and the OneGate server's configuration."""
