"""The VM engine: VMs and VM templates in the store, their life cycle, placement and the
scheduler, monitoring, context images, and the orders modules apply (sets).
"""
