"""The Plone add-on: a GenericSetup profile that installs a tracking
storage as the site's ``ITrackingStorage`` utility.

Needs Plone 6 (the ``plone`` extra). In the Plone site's ZCML, or by
``plone.autoinclude``::

    <include package="cybertools_tracking.plone" />

then install "cybertools-tracking" in the add-on control panel (the
profile ``cybertools_tracking.plone:default``). Code in the site finds
the storage with ``getUtility(ITrackingStorage)``.
"""
