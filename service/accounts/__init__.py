"""Accounts: passwords, sign-in sessions, API tokens, sign-in throttling, who is acting
(Principal), every permission check, and the office's account administration.
"""
