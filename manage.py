#!/usr/bin/env python3
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    if not os.environ.get("SECRET_KEY") and not os.environ.get("DATABASE_URL"):
        # Nothing configured: this is the embedded default that `python3 dev.py run` serves
        # (its SQLite file under var/), so operator commands beside it need no environment.
        # Any production configuration (a SECRET_KEY or a DATABASE_URL) turns this off.
        os.environ.setdefault("PORTAL_ALLOW_DEMO_SECRETS", "1")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
