"""Jifen's domain and persistence, one package per domain; web/ and the jifen command
(service/cli) are the ways in. Never imports Litestar or web/.

The layers, each importing only those below it (checked by import-linter, `make lint`):

    cli                 the jifen command: an entry point, not a domain
    database            open_database: the Database with every session hook
    ops                 demo seed, backup, stats
    overview            home pages and API queries across domains (read-only)
    entries             entries, review, suggestions, adjustments, evidence
    ledger | people     the ledger and its checks | branches, members, transfers, roster
    publication         month state, stored boards, digest chain, objections
    boards              live boards and the totals they read
    accounts            sign-in, principal, permissions, tokens, account administration
    audit               capturing and reading the audit log
    persistence         models, Database, migrations, pagination
    scoring             rules, engine, ranking: pure, no SQLAlchemy
    kernel              errors, messages, periods, settings
"""
