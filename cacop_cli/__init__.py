"""cacop: a command-line knowledge base for crime analysts."""

__version__ = "0.1.0"
