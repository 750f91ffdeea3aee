"""``{{ share|percent }}``: a share in [0, 1] as a percentage with one decimal ("—" for none)."""

from __future__ import annotations

from django import template
from django.template.defaultfilters import floatformat

register = template.Library()


@register.filter
def percent(value: float | None, digits: int = 1) -> str:
    if value is None or value == "":
        return "—"
    return f"{floatformat(float(value) * 100, digits)}%"
