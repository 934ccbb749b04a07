from django import forms

from billing.derivation import CURRENCIES, CURRENCY_NETWORKS, DEFAULT_NETWORK

NETWORK_CHOICES = [
    ("", "Its only network (BTC, ETH, LTC)"),
    ("BTC", "BTC (Bitcoin)"),
    ("LTC", "LTC (Litecoin)"),
    ("ERC20", "ERC20 (Ethereum)"),
    ("TRC20", "TRC20 (TRON)"),
]


class DepositAddressForm(forms.Form):
    currency = forms.ChoiceField(label="Currency", choices=[(c, c) for c in CURRENCIES])
    network = forms.ChoiceField(
        label="Network", choices=NETWORK_CHOICES, required=False,
        help_text="USDT needs a network: ERC20 or TRC20. BTC, LTC and ETH (ERC20) have one each.",
    )

    def clean(self):
        """USDT has two networks and no default: a payment sent on the other one is lost, so the
        choice is the customer's, here as in the API."""
        data = super().clean()
        currency, network = data.get("currency"), data.get("network")
        if currency and not network and currency not in DEFAULT_NETWORK:
            self.add_error("network", f"{currency} needs a network: {' or '.join(CURRENCY_NETWORKS[currency])}.")
        elif currency and network and network not in CURRENCY_NETWORKS[currency]:
            self.add_error("network", f"{currency} is available on {' or '.join(CURRENCY_NETWORKS[currency])} only.")
        return data
