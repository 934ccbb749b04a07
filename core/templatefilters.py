"""Template filters every page may use without `{% load %}` (TEMPLATES "builtins")."""

from django import template

from core.money import money_str

register = template.Library()


@register.filter
def money(value) -> str:
    """An amount in USD as the whole portal writes it: two places, rounded half up."""
    if value is None or value == "":
        return ""
    return money_str(value)
