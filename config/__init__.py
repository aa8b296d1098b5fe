from config.parsers import ConfigurationError
from config.settings import SETTINGS, Settings

__all__ = ["ConfigurationError", "SETTINGS", "Settings"]
