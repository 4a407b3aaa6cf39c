"""Worked examples of bringing your own data and models to rlkd (see examples/README.md)."""
