"""The keyed API platform: the base view, key authentication, rate limits, idempotency,
the envelope and its renderers, pagination, the OpenAPI hooks, and the one table from domain
errors to HTTP status and `error_type`. Apps build their endpoints on it; it imports no app
(checked by import-linter): what it needs of them comes through settings that name a callable.
"""
