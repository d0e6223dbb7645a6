"""callscope: self-hosted speech analytics for telecom call centres."""

__version__ = "0.1.0"
