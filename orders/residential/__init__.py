"""The residential wing of the orders app: sub-user proxies drawing on residential orders, the
geo directory they target, usage (the signed webhook and the provider pull) and traffic
statistics, with their API, pages, admin and task. It builds on the orders core, which never
imports it (docs/architecture.md#the-residential-wing)."""
