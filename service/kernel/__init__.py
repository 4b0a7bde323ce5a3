"""The kernel: domain errors, translatable messages, calendar months in the town's
zone, settings, and form-field and spreadsheet-cell helpers. Pure; imports nothing of service.
"""
