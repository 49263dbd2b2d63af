"""The registration point through which features react to the core, so that the core
never imports them (the layers: core, drivers, objects, vm, then the features).

A feature's handler is subscribed to an event; the core publishes the event where it
happens, inside the transaction of the change, and gets the handlers' results back.
``frontend.features`` subscribes every feature's handlers (each feature loaded when first
called) when ``frontend.home`` is imported, so each process that opens an instance (the
server, a CLI, a module) has every subscriber before it touches the store.

    events.subscribe(events.VM_FAILED, mark_failed)     # frontend.features, for ha.hooks
    events.publish(events.VM_FAILED, vm)                # vm.lifecycle

The events and what their handlers get:

``VM_ALLOCATED``  (vm_id, fields, onegate_endpoint): a VM body is being created; handlers
                  may add to ``fields`` (OneGate issues the VM's token).
``VM_FAILED``     (vm): a VM went FAILED (the VM_HOOK on FAILED is due).
``HOST_ERROR``    (host): a host went ERROR (the HOST_HOOK on ERROR is due).
``CONTEXT_FILES`` (secret, vm) -> dict[name, text]: files for the VM's context image.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

VM_ALLOCATED = "vm-allocated"
VM_FAILED = "vm-failed"
HOST_ERROR = "host-error"
CONTEXT_FILES = "context-files"
EVENTS = (VM_ALLOCATED, VM_FAILED, HOST_ERROR, CONTEXT_FILES)

Handler = Callable[..., Any]
_handlers: dict[str, list[Handler]] = {event: [] for event in EVENTS}
_lock = threading.Lock()


def subscribe(event: str, handler: Handler) -> None:
    """Call ``handler`` on every ``event`` from now on (once, however often subscribed)."""
    if event not in _handlers:
        raise ValueError(f"unknown event {event!r}; the core publishes {', '.join(EVENTS)}")
    with _lock:
        if handler not in _handlers[event]:
            _handlers[event].append(handler)


def publish(event: str, *args: Any) -> list[Any]:
    """Run the event's handlers in the order they subscribed; their results, in order."""
    return [handler(*args) for handler in tuple(_handlers[event])]


def subscribers(event: str) -> tuple[Handler, ...]:
    """Who listens to an event (for checks and tests)."""
    return tuple(_handlers[event])
