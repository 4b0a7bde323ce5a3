"""The demo town (``jifen seed demo``): generated from ``seeds/town.toml`` in memory, written
with one bulk INSERT per table, its complete months published through the real services.

Ids are assigned by the builder rather than by the database, so ledger lines point at
their entries without reading anything back. The builder is one class assembled in
steps, each in its own module: state → people → activity → reviews → publishing → load.
"""
