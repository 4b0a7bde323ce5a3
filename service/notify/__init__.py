"""Telling people (issue 19): the inbox, email and group robots, sent reliably from a
transactional outbox.

- ``service.outbox`` (below accounts): the kinds, and ``emit`` in the event's transaction;
- ``inbox``: an account's messages, the header's count, marking read;
- ``sender``: ``jifen notify run``: claim, send, retry, dead-letter.

This package sits below every domain that has news (entries, meetings, publication,
assessment) and above accounts, whose principals its permission checks read.
"""
