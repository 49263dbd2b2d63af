"""The onekit server: one Flask code base (app factory + blueprints) and its process
control. Until the OneFlow/OneGate issues land it serves the core API skeleton."""
