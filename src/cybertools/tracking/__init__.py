"""Compatibility package: the module names of the loops framework's
``cybertools.tracking``, served by ``cybertools_tracking``."""
