"""Scoring: the rule files, the pure engine that turns activities into points with caps,
ranking with shared ranks, point arithmetic and chart geometry. No database.
"""
