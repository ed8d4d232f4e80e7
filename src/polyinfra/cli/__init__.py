"""The ``polyinfra`` command."""
