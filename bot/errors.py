"""The errors hipbot raises; each message tells the user what to do."""


class HipbotError(Exception):
    """A problem the user can fix; the edges print its message without a traceback."""


class CorpusError(HipbotError):
    """The corpus folder or an article in it cannot be used."""


class IndexNotBuiltError(HipbotError):
    """No usable index exists yet."""


class IndexMismatchError(HipbotError):
    """The index on disk was built with other settings than the current ones."""


class ConfigError(HipbotError):
    """A setting is missing or invalid."""
