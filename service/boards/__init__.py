"""Boards: live rankings of members and branches for a month, quarter or year, the
totals kept beside the ledger that they read, exports, and a branch's achievements.
"""
