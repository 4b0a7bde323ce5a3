"""The ledger (积分流水): reconciling a member's ledger lines with a fresh scoring,
verifying everything from scratch, previewing and adopting a new ruleset, explaining points.
"""
