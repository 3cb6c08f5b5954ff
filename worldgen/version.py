"""Generator version, written to world.json; bump it when the same config would produce other files."""

__version__ = "2.1.0"
