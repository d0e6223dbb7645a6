"""Shared foundations: errors, configuration, model references, record types, text folding,
chart fonts and loggers. Every stage may import this package; it imports no stage."""
