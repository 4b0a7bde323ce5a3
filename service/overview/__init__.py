"""Overviews across domains, read-only: each role's home page and the JSON API's
queries (entries, reviews, members).
"""
