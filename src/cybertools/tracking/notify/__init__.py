"""Notifications: tracks that tell a user of something (loops' module
``cybertools.tracking.notify``); ``base`` has the classes, ``interfaces``
the contracts. Needs zope.component (the ``zope`` extra)."""
