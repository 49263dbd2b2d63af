"""OneFlow: service templates, services and their roles, the LCM decision, elasticity
expressions and scheduled policies.
"""
