#!/usr/bin/env python3
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    if not any(os.environ.get(name) for name in ("SECRET_KEY", "DATABASE_URL", "DEBUG")):
        # Nothing configured: this is the embedded default that `python3 dev.py run` serves
        # (its SQLite file under var/), so operator commands beside it need no environment.
        # Any configuration (a SECRET_KEY, a DATABASE_URL, or DEBUG set either way, as a
        # production environment sets DEBUG=0) turns this off.
        os.environ.setdefault("PORTAL_ALLOW_DEMO_SECRETS", "1")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
