"""hipbot: answers runners' hip-pain questions from trusted articles, screening every message."""

__version__ = "0.1.0"
