"""Operations: the demo town (seed), backups and restores, and the town's counts."""
