"""Everything the checker writes, by business: `jobs` (a customer's check jobs: create,
cancel, sweep the lost ones), `runner` (a job fed to the asyncio engine in a worker thread,
its results stored in batches), `pools` (the public and premium pools: import, re-check), and
`parsing` (proxy lists as the checker can store them)."""
