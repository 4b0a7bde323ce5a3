"""The operator's road, end to end: the wheel installed outside the checkout, PostgreSQL,
nginx with TLS in front (tests/operator/test_operator_journey.py)."""
