"""The audit log: a session hook capturing every change with who, when and from where
(capture), and reading, filtering and exporting it (log).
"""
