"""Signals the orders app sends, so that code building on orders (the residential wing) hears of
them without the orders services importing it."""

from django.dispatch import Signal

# Sent once an order's activation has committed, with `order`: the order, now active.
order_activated = Signal()
