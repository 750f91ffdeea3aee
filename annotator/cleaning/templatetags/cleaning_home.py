"""``{% annotator_home %}``: the annotator's part of the home page (templates/cleaning/home.html)."""

from __future__ import annotations

from typing import Any

from django import template

from annotator.accounts.roles import Role, user_has_role
from annotator.cleaning.selectors_home import annotator_home as annotator_home_data

register = template.Library()


@register.inclusion_tag("cleaning/home.html", takes_context=True)
def annotator_home(context: template.Context) -> dict[str, Any]:
    user = context["request"].user
    if not user_has_role(user, Role.ANNOTATOR):
        return {"show": False}
    return {"show": True, **annotator_home_data(user=user)}
