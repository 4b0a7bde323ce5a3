"""Operations: the demo town (seed), backups and restores, the town's counts, and the
instance folder of a production install (``jifen init``)."""
