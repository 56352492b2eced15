"""The host layer: the adapters between the Frappe site and the pure engine.

- ``frames``: bulk-read host data (Tenancy, the rent ledger, open Arrears Cases, their timelines, Worktray
  Officers and Worktray Rules) into the engine's frames with a handful of set-based queries.
- ``ledger``: the two ledger sources (Rent Transaction, ERPNext receivables) and the rent-run helpers.
- ``writeback``: write the engine's decisions back in batches (cases, timeline, ToDo/_assign, Tenancy).
- ``nightly``: the scheduler entry points and the nightly job (AWM Run).
- ``bench``: the in-site benchmark of one nightly run.

Nothing here imports the engine's internals beyond its documented API (docs/engine.md).
"""
