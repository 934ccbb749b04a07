"""Dashboard form errors: labels instead of the API's field names, an alert at the top plus the
error beside its field."""

from django import forms
from django.template.loader import render_to_string

from core.errors import DomainValidationError
from core.forms import form_add_service_error, humane_message


class JobForm(forms.Form):
    proxies_text = forms.CharField(label="Proxies")
    target_url = forms.CharField(label="Target URL", required=False)
    expect_text = forms.CharField(label="Expect text", required=False)
    order = forms.CharField(label="Residential order", required=False)


def test_api_field_names_in_messages_become_labels():
    form = JobForm()
    assert humane_message(form, "Give a target_url to look for this text in.") == (
        "Give a Target URL to look for this text in."
    )
    assert humane_message(form, "Unknown order_id.", renamed={"order_id": "order"}) == "Unknown Residential order."
    assert humane_message(form, "a target_urls list") == "a target_urls list"  # whole names only


def test_service_errors_land_beside_fields_with_labels():
    form = JobForm(data={"proxies_text": "x"})
    assert form.is_valid()
    form_add_service_error(form, DomainValidationError({"expect_text": ["Give a target_url to look for this text in."],
                                                        "elsewhere": ["Something else."]}))
    assert form.errors["expect_text"] == ["Give a Target URL to look for this text in."]
    assert form.non_field_errors() == ["Something else."]


def test_errors_show_as_an_alert_at_the_top_and_beside_the_field():
    form = JobForm(data={"proxies_text": "", "target_url": "x"})
    assert not form.is_valid()
    form.add_error(None, "The list could not be checked.")
    top = render_to_string("includes/form_errors.html", {"form": form})
    assert 'class="alert alert-danger form-errors" role="alert"' in top
    assert "The list could not be checked." in top
    assert '<a href="#id_proxies_text" class="alert-link">Proxies</a>: This field is required.' in top
    assert "proxies_text:" not in top
    beside = render_to_string("includes/field.html", {"field": form["proxies_text"]})
    assert 'id="id_proxies_text_error"' in beside and "This field is required." in beside


def test_a_valid_form_renders_no_alert():
    form = JobForm(data={"proxies_text": "1.2.3.4:80"})
    assert form.is_valid()
    assert render_to_string("includes/form_errors.html", {"form": form}).strip() == ""
