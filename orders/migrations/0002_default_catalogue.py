"""A default catalogue and price list, so a new portal can sell at once (operators edit it in the admin)."""

from decimal import Decimal

from django.db import migrations

TYPES = [
    # code, name, unit, period_required, min, max, sort
    ("residential", "Residential", "GB", False, "1", "10000", 1),
    ("datacenter", "Datacenter", "IP", True, "1", "1000", 2),
    ("isp", "ISP", "IP", True, "1", "500", 3),
    ("mobile", "Mobile", "IP", True, "1", "100", 4),
    ("ipv6", "IPv6", "IP", True, "10", "10000", 5),
]

PERIODS = [(1, "1 day"), (7, "7 days"), (30, "30 days"), (90, "90 days")]

COUNTRIES = [
    ("US", "United States"), ("GB", "United Kingdom"), ("DE", "Germany"), ("FR", "France"),
    ("NL", "Netherlands"), ("CA", "Canada"), ("AU", "Australia"), ("JP", "Japan"),
    ("SG", "Singapore"), ("BR", "Brazil"), ("IN", "India"), ("ES", "Spain"), ("IT", "Italy"),
    ("PL", "Poland"), ("SE", "Sweden"), ("CH", "Switzerland"), ("UA", "Ukraine"), ("TR", "Turkey"),
    ("MX", "Mexico"), ("KR", "South Korea"), ("HK", "Hong Kong"), ("ZA", "South Africa"),
    ("AR", "Argentina"), ("RO", "Romania"), ("FI", "Finland"), ("CZ", "Czechia"),
]
EVERYWHERE = [code for code, _ in COUNTRIES]
TYPE_COUNTRIES = {
    "residential": EVERYWHERE,
    "datacenter": EVERYWHERE,
    "isp": ["US", "GB", "DE", "FR", "NL", "CA", "AU", "JP", "SG", "BR", "ES", "IT", "PL", "SE",
            "CH", "MX", "KR", "HK", "RO", "FI", "CZ", "IN", "TR", "ZA"],
    "mobile": ["US", "GB", "DE", "FR", "NL", "CA", "AU", "JP", "BR", "IN", "ES", "IT", "PL", "UA",
               "TR", "MX", "KR", "ZA", "AR", "RO", "CZ"],
    "ipv6": ["US", "GB", "DE", "FR", "NL", "CA", "JP", "SG", "SE", "FI", "PL", "RO", "UA", "CH",
             "ES", "IT", "AU", "BR", "IN", "HK", "CZ"],
}

# type: (unit price, volume tiers [(min qty, %)], period discounts [(days, %)])
PRICES = {
    "residential": ("3.50", [("10", "5"), ("50", "10"), ("100", "15"), ("500", "20")], []),
    "datacenter": ("1.50", [("10", "5"), ("50", "10"), ("100", "15")], [(90, "10")]),
    "isp": ("3.00", [("10", "5"), ("50", "10")], [(90, "10")]),
    "mobile": ("30.00", [("5", "5"), ("20", "10")], [(90, "10")]),
    "ipv6": ("0.30", [("100", "10"), ("1000", "20")], [(90, "10")]),
}
# A few countries cost more than the default.
COUNTRY_PRICES = {("residential", "US"): "4.00", ("datacenter", "JP"): "2.00", ("mobile", "US"): "35.00"}


def install(apps, schema_editor):
    ProxyType = apps.get_model("orders", "ProxyType")
    Period = apps.get_model("orders", "Period")
    Country = apps.get_model("orders", "Country")
    PriceRule = apps.get_model("orders", "PriceRule")
    VolumeTier = apps.get_model("orders", "VolumeTier")
    PeriodDiscount = apps.get_model("orders", "PeriodDiscount")

    types = {}
    for code, name, unit, period_required, lo, hi, sort in TYPES:
        types[code], _ = ProxyType.objects.get_or_create(
            code=code,
            defaults={"name": name, "unit": unit, "period_required": period_required,
                      "min_quantity": Decimal(lo), "max_quantity": Decimal(hi), "sort_order": sort},
        )
    for days, label in PERIODS:
        Period.objects.get_or_create(days=days, defaults={"label": label})
    countries = {}
    for code, name in COUNTRIES:
        countries[code], _ = Country.objects.get_or_create(code=code, defaults={"name": name})
    for type_code, codes in TYPE_COUNTRIES.items():
        for code in codes:
            countries[code].types.add(types[type_code])

    def rule(type_code, country, unit_price, tiers, discounts):
        r, created = PriceRule.objects.get_or_create(
            proxy_type=types[type_code], country=country, defaults={"unit_price": Decimal(unit_price)}
        )
        if created:
            for min_q, pct in tiers:
                VolumeTier.objects.create(rule=r, min_quantity=Decimal(min_q), discount_percent=Decimal(pct))
            for days, pct in discounts:
                PeriodDiscount.objects.create(rule=r, period_days=days, discount_percent=Decimal(pct))

    for type_code, (unit_price, tiers, discounts) in PRICES.items():
        rule(type_code, None, unit_price, tiers, discounts)
    for (type_code, code), unit_price in COUNTRY_PRICES.items():
        _, tiers, discounts = PRICES[type_code]
        rule(type_code, countries[code], unit_price, tiers, discounts)


class Migration(migrations.Migration):
    dependencies = [("orders", "0001_initial")]

    operations = [migrations.RunPython(install, migrations.RunPython.noop)]
