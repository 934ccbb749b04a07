from django import forms

from checker.models import ANONYMITY_LEVELS, PROTOCOLS
from checker.selectors import MAX_FRESH_MINUTES, MAX_LATENCY_MS
from core import numbers

UPLOAD_MAX_BYTES = 2 * 1024 * 1024


class CheckForm(forms.Form):
    proxies_text = forms.CharField(
        label="Proxies", required=False, strip=False,
        widget=forms.Textarea(attrs={"rows": 10, "spellcheck": "false", "autocomplete": "off"}),
        help_text="One proxy a line: ip:port, ip:port:user:pass, user:pass@ip:port, or with a scheme "
        "such as socks5://ip:port. Blank lines and # comments are ignored.",
    )
    proxies_file = forms.FileField(
        label="Or upload a file", required=False, help_text="A text file in the same format, up to 2 MB.",
    )
    include_anonymity = forms.BooleanField(label="Include anonymity", required=False)
    target_url = forms.CharField(
        label="Target URL", required=False, max_length=2048,
        help_text="Optional: also fetch this URL through each proxy.",
    )
    expect_text = forms.CharField(
        label="Expect text", required=False, max_length=512, strip=False,
        help_text="Optional: count a proxy live only if the target's page contains this text.",
    )

    def clean(self):
        data = super().clean()
        upload = data.get("proxies_file")
        text = data.get("proxies_text") or ""
        if upload:  # False when a client sends the clear checkbox
            if upload.size > UPLOAD_MAX_BYTES:
                self.add_error("proxies_file", "The file is over 2 MB.")
                return data
            raw = upload.read(UPLOAD_MAX_BYTES + 1)
            text = (text + "\n" if text.strip() else "") + raw.decode("utf-8", errors="replace")
        if not text.strip():
            self.add_error("proxies_text", "Paste a list of proxies or upload a file.")
        data["text"] = text
        return data


class PoolFilterForm(forms.Form):
    """Filters of the public list browser (GET); validated again by the selector."""

    protocol = forms.ChoiceField(label="Protocol", required=False, choices=[("", "Any")] + [(p, p) for p in PROTOCOLS])
    country = forms.CharField(label="Country", required=False, max_length=2, widget=forms.TextInput(attrs={"size": 3}))
    anonymity = forms.ChoiceField(
        label="Anonymity", required=False, choices=[("", "Any")] + [(a, a) for a in ANONYMITY_LEVELS]
    )
    fresh_minutes = numbers.IntegerField(
        label="Checked within (minutes)", required=False, min_value=1, max_value=MAX_FRESH_MINUTES
    )
    max_latency_ms = numbers.IntegerField(label="Max latency (ms)", required=False, min_value=0, max_value=MAX_LATENCY_MS)
    min_uptime = numbers.FloatField(label="Min uptime (0–1)", required=False, min_value=0, max_value=1)
