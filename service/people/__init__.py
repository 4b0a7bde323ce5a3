"""People: branches, organisations (五清), members, transfers between branches with an
effective date, and the roster file import.
"""
