"""Reminders that no single event causes: entries waiting for review, a meeting starting
soon, a month ready to publish, objections waiting, a reminder to declare. A sweep reads
the domains' state and emits through ``service.notify`` with a dedupe key, so running it
again (every pass of ``jifen notify run``) writes each reminder once.

It sits above the domains it reads and is called by the sender's pass (the CLI), never
by a request.
"""
