"""Showing a service's refusal on a dashboard form, the same way on every page."""

import re

from django import forms

from core.errors import PortalError


def humane_message(form: forms.Form, message: str, *, renamed: dict[str, str] | None = None) -> str:
    """The message with the API's names of the form's fields (`target_url`, `order_id`) written as
    the labels the page shows ("Target URL", "Order"). Services word their errors for the API,
    whose clients know the field names; a dashboard user knows the labels."""
    names = {api: form_name for api, form_name in (renamed or {}).items()}
    names.update({name: name for name in form.fields if name not in names.values()})
    for api_name, form_name in names.items():
        field = form.fields.get(form_name)
        if field is None or "_" not in api_name or not field.label:
            continue  # a one-word name reads as a word already
        message = re.sub(rf"\b{re.escape(api_name)}\b", str(field.label), message)
    return message


def form_add_service_error(form: forms.Form, exc: PortalError, *, renamed: dict[str, str] | None = None) -> None:
    """Each field's messages beside that field when the form has it, the rest at the top.

    `renamed` maps a service's field name to the form's (`order_id` → `order`). An error that
    names no field is shown at the top of the form. Field names inside the messages are written
    as the fields' labels (`humane_message`).
    """
    fields = exc.meta.get("fields") or {}
    if not fields:
        form.add_error(None, humane_message(form, exc.message, renamed=renamed))
        return
    for field, errors in fields.items():
        name = (renamed or {}).get(field, field)
        messages = [errors] if isinstance(errors, str) else list(errors)
        form.add_error(
            name if name in form.fields else None,
            [humane_message(form, str(m), renamed=renamed) for m in messages],
        )
