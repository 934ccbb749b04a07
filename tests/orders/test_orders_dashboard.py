"""The dashboard Orders pages, through Django's test client."""

import re
from decimal import Decimal

import pytest
from django.test import Client

from accounts.models import Membership, Role
from accounts.services import user_create_with_account
from orders.models import Order
from tests.conftest import dashboard_client

from .conftest import add_stock, balance, fund

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner_client(owner):
    client = Client()
    client.force_login(owner)
    return client


def _role_client(account, email, role):
    user, _ = user_create_with_account(email=email, password="x-Very-long-pass-1", name=email)
    Membership.objects.create(user=user, account=account, role=role)
    return dashboard_client(user, account), user


def _place(client, capture, **data):
    with capture(execute=True):
        return client.post("/orders/", {"action": "place", "form_token": data.pop("form_token", ""), **data})


def test_page_has_labelled_form_and_buttons(owner_client):
    html = owner_client.get("/orders/").content.decode()
    for label in ("Proxy type", "Quantity", "Period", "Country"):
        assert f">{label}</label>" in html
    assert ">Calculate price</button>" in html and ">Place order</button>" in html
    assert "js/orders.js" in html


def test_calculate_price_step_shows_the_quote_without_javascript(owner_client, account):
    response = owner_client.post(
        "/orders/", {"action": "calc", "type": "datacenter", "quantity": "10", "period": "30", "country": "DE"}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "14.25 USD" in html and "discount −0.75 USD" in html
    assert not Order.objects.exists()


def test_price_endpoint_uses_the_pricing_service(owner_client):
    ok = owner_client.get("/orders/price", {"type": "datacenter", "quantity": "10", "period": "30"}).json()
    assert ok["ok"] and ok["quote"]["total"] == "14.25"
    bad = owner_client.get("/orders/price", {"type": "datacenter", "quantity": "1.5", "period": "30"}).json()
    assert not bad["ok"] and "quantity" in bad["fields"]


def test_placing_an_order_charges_and_redirects_to_its_detail(owner_client, account, django_capture_on_commit_callbacks):
    fund(account, "20")
    add_stock("datacenter", "DE", 3)
    response = _place(owner_client, django_capture_on_commit_callbacks,
                      type="datacenter", quantity="2", period="30", country="DE", form_token="t1")
    order = Order.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/orders/{order.public_id}/"
    assert balance(account) == Decimal("17.00")
    detail = owner_client.get(response["Location"]).content.decode()
    assert "active" in detail and "Download TXT" in detail and ">Extend</button>" in detail
    # the same form submitted twice places one order
    again = _place(owner_client, django_capture_on_commit_callbacks,
                   type="datacenter", quantity="2", period="30", country="DE", form_token="t1")
    assert again["Location"] == f"/orders/{order.public_id}/"
    assert Order.objects.count() == 1
    txt = owner_client.get(f"/orders/{order.public_id}/download.txt")
    assert txt["Content-Type"].startswith("text/plain")
    assert len(txt.content.decode().splitlines()) == 2


def test_form_errors_show_beside_fields_and_nothing_is_charged(owner_client, account):
    fund(account, "1")
    response = owner_client.post("/orders/", {"action": "place", "type": "datacenter", "quantity": "2.5", "period": ""})
    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="id_quantity_error"' in html and 'id="id_period_error"' in html
    response = owner_client.post("/orders/", {"action": "place", "type": "residential", "quantity": "5"})
    assert response.status_code == 402
    assert "Top up your balance" in response.content.decode()
    assert not Order.objects.exists() and balance(account) == Decimal("1.00")


def test_extend_from_the_detail_page(owner_client, account, django_capture_on_commit_callbacks):
    fund(account, "20")
    add_stock("datacenter", "DE", 1)
    _place(owner_client, django_capture_on_commit_callbacks, type="datacenter", quantity="1", period="30", country="DE")
    order = Order.objects.get()
    before = order.expires_at
    response = owner_client.post(f"/orders/{order.public_id}/extend", {"period": "7"})
    assert response.status_code == 302
    order.refresh_from_db()
    assert (order.expires_at - before).days == 7


def test_viewer_reads_but_cannot_order(account, owner, django_capture_on_commit_callbacks):
    fund(account, "20")
    viewer, _ = _role_client(account, "viewer@example.com", Role.VIEWER)
    page = viewer.get("/orders/")
    assert page.status_code == 200
    assert "Place order" not in page.content.decode()
    viewer.post("/orders/", {"action": "place", "type": "residential", "quantity": "1"})
    assert not Order.objects.exists()


def test_member_can_order(account, django_capture_on_commit_callbacks):
    fund(account, "20")
    member, _ = _role_client(account, "m2@example.com", Role.MEMBER)
    _place(member, django_capture_on_commit_callbacks, type="residential", quantity="1")
    assert Order.objects.filter(account=account).count() == 1


def test_another_tenants_order_is_404_in_the_dashboard(owner_client, outsider_account):
    from orders import services

    fund(outsider_account, "20")
    order = services.order_place(account=outsider_account, type="residential", quantity=1)
    for path in (f"/orders/{order.public_id}/", f"/orders/{order.public_id}/download.txt"):
        assert owner_client.get(path).status_code == 404
    assert owner_client.post(f"/orders/{order.public_id}/extend", {"period": "30"}).status_code == 404


def test_list_filters_by_type_and_status(owner_client, account, django_capture_on_commit_callbacks):
    from orders import services

    fund(account, "50")
    add_stock("datacenter", "DE", 1)
    with django_capture_on_commit_callbacks(execute=True):
        dc = services.order_place(account=account, type="datacenter", quantity=1, period=30, country="DE")
        res = services.order_place(account=account, type="residential", quantity=1)
    html = owner_client.get("/orders/", {"type": "residential"}).content.decode()
    assert res.public_id in html and dc.public_id not in html
    html = owner_client.get("/orders/", {"status": "expired"}).content.decode()
    assert res.public_id not in html and "No orders match these filters" in html
    assert 'for="filter_type"' in html and 'for="id_type"' in html


def test_viewer_cannot_extend(account, django_capture_on_commit_callbacks):
    from orders import services

    fund(account, "50")
    add_stock("datacenter", "DE", 1)
    with django_capture_on_commit_callbacks(execute=True):
        order = services.order_place(account=account, type="datacenter", quantity=1, period=30, country="DE")
    viewer, _ = _role_client(account, "v2@example.com", Role.VIEWER)
    detail = viewer.get(f"/orders/{order.public_id}/").content.decode()
    assert ">Extend</button>" not in detail and "Download TXT" in detail
    assert viewer.post(f"/orders/{order.public_id}/extend", {"period": "7"}).status_code == 403
    assert balance(account) == Decimal("48.50")


def test_overview_shows_active_orders_and_residential_traffic(owner_client, account, django_capture_on_commit_callbacks):
    from orders import services

    fund(account, "50")
    with django_capture_on_commit_callbacks(execute=True):
        order = services.order_place(account=account, type="residential", quantity="2.5")
    Order.objects.filter(pk=order.pk).update(traffic_used_gb=Decimal("0.75"))
    html = owner_client.get("/").content.decode()
    assert "1.75 GB" in html and "0.75 of 2.50 GB used" in html


def test_order_form_shows_availability_per_type_and_country(owner_client, account):
    add_stock("datacenter", "DE", 3)
    html = owner_client.get("/orders/").content.decode()
    assert 'aria-label="Availability"' in html
    row = re.search(r'<tr data-type="datacenter" data-country="DE">(.*?)</tr>', html).group(1)
    assert "In stock" in row and "3" in row
    row = re.search(r'<tr data-type="isp" data-country="">(.*?)</tr>', html).group(1)
    assert "Out of stock" in row
    row = re.search(r'<tr data-type="residential" data-country="">(.*?)</tr>', html).group(1)
    assert "Available" in row
    assert 'id="order-availability"' in html
    assert re.search(r'value="place" class="button">Place order', html)  # enabled


def test_buy_button_is_disabled_when_nothing_can_be_sold(owner_client, account, settings):
    from orders.models import ProxyType

    ProxyType.objects.filter(code="residential").update(is_active=False)
    html = owner_client.get("/orders/").content.decode()
    assert re.search(r'value="place" class="button" disabled', html)
    assert "Nothing is in stock right now" in html


def test_stock_is_said_before_the_balance_when_both_are_short(owner_client, account):
    fund(account, "1")
    add_stock("datacenter", "DE", 1)
    data = {"type": "datacenter", "quantity": "3", "period": "30", "country": "DE"}
    review = owner_client.post("/orders/", {**data, "action": "calc"}).content.decode()
    assert "Only 1 Datacenter proxy is in stock in DE; you asked for 3." in review
    assert "short of this price" not in review
    assert re.search(r'value="place" class="button" disabled', review)
    response = owner_client.post("/orders/", {**data, "action": "place"})
    assert response.status_code == 409
    html = response.content.decode()
    assert "Only 1 Datacenter proxy is in stock in DE" in html and "Top up your balance" not in html
    assert not Order.objects.exists() and balance(account) == Decimal("1.00")


def test_a_short_balance_is_said_when_stock_is_enough(owner_client, account):
    fund(account, "1")
    add_stock("datacenter", "DE", 5)
    data = {"type": "datacenter", "quantity": "3", "period": "30", "country": "DE", "action": "calc"}
    html = owner_client.post("/orders/", data).content.decode()
    assert re.search(r"Your balance is [0-9.,]+ USD short of this price", html)
    assert "in stock" not in html.split('id="order-price"')[1].split("</div>")[0]


def test_the_detail_page_and_downloads_read_no_proxy_on_its_own(owner_client, account):
    """The order's proxies come in one query however many (the list reads only the columns it shows)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from orders.models import OrderProxy
    from tests.orders.residential.subuser_fixtures import datacenter_order

    order = datacenter_order(account)
    paths = [f"/orders/{order.public_id}/", *(f"/orders/{order.public_id}/download.{f}" for f in ("txt", "csv", "json"))]

    def add(proxies: int) -> None:
        OrderProxy.objects.bulk_create([
            OrderProxy(order=order, host=f"10.9.0.{n}", port=1000 + n, username="u", password="p", country="DE")
            for n in range(proxies)
        ])

    def counted() -> dict:
        found = {}
        for path in paths:
            with CaptureQueriesContext(connection) as queries:
                response = owner_client.get(path)
            assert response.status_code == 200 and b"10.9.0.0" in response.content, path
            found[path] = len(queries)
        return found

    add(1)
    counted()  # the session, the catalogue: read on the first request
    one = counted()
    add(3)
    assert counted() == one


def test_the_orders_page_reads_no_order_on_its_own(owner_client, account):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.orders.residential.subuser_fixtures import datacenter_order, residential_order

    def counted() -> int:
        with CaptureQueriesContext(connection) as queries:
            response = owner_client.get("/orders/")
        assert response.status_code == 200
        return len(queries)

    datacenter_order(account)
    counted()  # the session, the catalogue: read on the first request
    one = counted()
    residential_order(account)
    datacenter_order(account)
    assert counted() == one
