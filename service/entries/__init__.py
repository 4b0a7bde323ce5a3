"""Entries (积分申报): submitting and withdrawing, review (approve, reject, revoke),
suggestions adopted and implemented, deductions and adjustments, photo evidence.
"""
