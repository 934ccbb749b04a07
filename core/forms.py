"""Showing a service's refusal on a dashboard form, the same way on every page."""

from django import forms

from core.errors import PortalError


def form_add_service_error(form: forms.Form, exc: PortalError, *, renamed: dict[str, str] | None = None) -> None:
    """Each field's messages beside that field when the form has it, the rest at the top.

    `renamed` maps a service's field name to the form's (`order_id` → `order`). An error that
    names no field is shown at the top of the form.
    """
    fields = exc.meta.get("fields") or {}
    if not fields:
        form.add_error(None, exc.message)
        return
    for field, errors in fields.items():
        name = (renamed or {}).get(field, field)
        form.add_error(name if name in form.fields else None, errors)
