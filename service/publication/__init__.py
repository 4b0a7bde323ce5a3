"""Publication (公示): a month's state, boards stored and chained by digest,
corrections, objections, and the office's overview of the months.
"""
