"""The ``jifen`` command for operators: an entry point beside ``web/``, not a domain.
Each command group is a module; they share only ``common`` (settings, database, --by).
"""

from service.cli.app import main

__all__ = ["main"]
