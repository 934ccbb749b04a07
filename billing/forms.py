from django import forms

from billing.derivation import CURRENCIES

NETWORK_CHOICES = [
    ("", "Default for the currency"),
    ("BTC", "BTC (Bitcoin)"),
    ("LTC", "LTC (Litecoin)"),
    ("ERC20", "ERC20 (Ethereum)"),
    ("TRC20", "TRC20 (TRON)"),
]


class DepositAddressForm(forms.Form):
    currency = forms.ChoiceField(label="Currency", choices=[(c, c) for c in CURRENCIES])
    network = forms.ChoiceField(
        label="Network", choices=NETWORK_CHOICES, required=False,
        help_text="BTC and LTC on their own chains, ETH on ERC20; USDT on ERC20 or TRC20.",
    )
