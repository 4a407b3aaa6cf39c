"""Errors a user can fix. The CLI prints them without a traceback and exits with code 2."""


class RlkdError(Exception):
    """Base class: the message must say what is wrong and how to fix it."""


class ConfigError(RlkdError):
    """A config key, type or value is not allowed."""


class DataError(RlkdError):
    """A data source is missing or malformed."""


class CheckpointError(RlkdError):
    """A checkpoint does not match what the config expects."""
