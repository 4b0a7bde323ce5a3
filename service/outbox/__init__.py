"""The transactional outbox: what can be said to whom (``kinds``) and writing an event's
notifications and deliveries in the event's own transaction (``emit.emit``).

It sits low (above persistence and audit, below accounts) so every domain with news can
emit, accounts included (a changed password). Reading, preferences, group-robot
settings and sending are ``service.notify``'s, higher up.
"""
