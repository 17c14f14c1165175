"""Maintainer tools that draw what the repository ships (`python -m tools.figures` draws images/)."""
