"""The ground every app stands on: money, ids, numbers, dates, text, files, env parsing,
database helpers, the shared store and the caller's address. It imports no app and no project
wiring (checked by import-linter).

A plain package, not a Django app: it has no models, migrations, templates or commands;
its model field and form fields work from wherever they are imported.
"""
