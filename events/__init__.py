"""Customers' webhooks: the events the other apps emit (an outbox written in their transaction),
the endpoints that subscribe to them, and their signed delivery by the worker.

Named for what it sends: `/webhooks/` URLs and the `webhooks.py` modules of billing and the
residential wing are *incoming* calls. This app stands below billing, checker, apikeys and
orders and imports only accounts, api and core: a caller hands it the payload it serialized.
"""
