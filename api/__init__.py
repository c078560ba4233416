"""policy-tracker: an open REST API of national technology-policy initiatives."""

__version__ = "0.1.0"
