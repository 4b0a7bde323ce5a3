"""Organisational life (组织生活): meetings a branch schedules, who is expected, leave
requests, check-in with rotating codes, closing with minutes (which writes the
attendance points through the ledger), amendments, make-up sessions, party groups,
organisers, calendar feeds and the yearly compliance count.
"""
