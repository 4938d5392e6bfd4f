"""`dockyard monitor` and `dockyard retrain`."""

from dockyard.monitor.commands import add_commands

__all__ = ["add_commands"]
