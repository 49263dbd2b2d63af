"""The guide's auto-scaling examples (section 1.4.7) as users write them, with the
guide's comments: the JSON text for templates, and Scalability1's role as a document."""

from __future__ import annotations

from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils.core.json_text import parse_json

SCALABILITY1_TEXT = """\
{
  "name": "Scalability1",
  "deployment": "none",
  "roles": [
    {
      "name": "frontend",
      "cardinality": 2,
      "vm_template": %(template)d,
      "min_vms" : 1,
      "max_vms" : 5,
      "elasticity_policies" : [
        {
          // +2 VMs when the exp. is true for 3 times in a row,
          // separated by 10 seconds
          "expression" : "ATT > 50",
          "type" : "CHANGE",
          "adjust" : 2,
          "period_number" : 3,
          "period" : %(period)d
        },
        {
          // -10 percent VMs when the exp. is true.
          // If 10 percent is less than 2, -2 VMs.
          "expression" : "ATT < 20",
          "type" : "PERCENTAGE_CHANGE",
          "adjust" : -10,
          "min_adjust_step" : 2
        }
      ]
    }
  ]
}
"""

TIME_WINDOWS_TEXT = """\
{
  "name": "Time_windows",
  "deployment": "none",
  "roles": [
    {
      "name": "frontend",
      "cardinality": 1,
      "vm_template": %(template)d,
      "min_vms" : 1,
      "max_vms" : 15,
      // These policies set the cardinality to:
      // 6 from 9:00 to 13:00
      // 10 from 13:00 to 22:30
      // 2 from 22:30 to 09:00, and the weekend
      "scheduled_policies" : [
        { "type" : "CARDINALITY", "recurrence" : "0 9 * * mon,tue,wed,thu,fri", "adjust" : 6 },
        { "type" : "CARDINALITY", "recurrence" : "0 13 * * mon,tue,wed,thu,fri", "adjust" : 10 },
        { "type" : "CARDINALITY", "recurrence" : "30 22 * * mon,tue,wed,thu,fri", "adjust" : 2 }
      ]
    }
  ]
}
"""


def scalability1_json(template: int = 0, period: int = 10) -> str:
    """The guide's Scalability1; a test may shorten its period (10 s)."""
    return SCALABILITY1_TEXT % {"template": template, "period": period}


def time_windows_json(template: int = 0) -> str:
    return TIME_WINDOWS_TEXT % {"template": template}


def scalability1_role(cardinality: int = 2, **fields: Any) -> dict[str, Any]:
    """Scalability1's frontend role, as its template holds it."""
    (role,) = parse_json(scalability1_json())["roles"]
    return {**role, "cardinality": cardinality, **fields}
