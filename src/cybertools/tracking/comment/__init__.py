"""Comments: tracks holding a user's text about an object, in threads
(loops' module ``cybertools.tracking.comment``); ``base`` has the class,
``interfaces`` the contract. Needs zope.schema (the ``zope`` extra)."""
