"""A Zope application with the add-on, to test code that uses it.

``ZOPE_LAYER`` loads ``ftesting.zcml`` (beside this module) with
zope.configuration's xmlconfig, through zope.component's ZCML layer;
opens a fresh database for every test (its root folder, a site made by
zope.app.appsetup, gets a tracking storage from the add-on's
``site.zcml``); and makes the WSGI app of the Zope publisher
(zope.app.wsgi) over it. A zope.testrunner test class names it as its
``layer``; under pytest, fixtures call ``setUp``/``testSetUp`` and
``testTearDown``/``tearDown`` (see tests/test_zope_addon.py).

Needs, besides the ``zope`` extra, what the ``test`` extra adds for it:
zope.app.wsgi, zope.app.publication, zope.login, zope.principalregistry,
zope.securitypolicy, zope.testbrowser and zope.testing.
"""

import zope.component.hooks
import zope.testing.cleanup
from zope.app.wsgi.testlayer import BrowserLayer
from zope.principalregistry.principalregistry import principalRegistry
from zope.security.management import endInteraction, newInteraction
from zope.security.testing import Participation
from zope.testbrowser.wsgi import Browser

import cybertools_tracking.zope

__all__ = ['ZOPE_LAYER', 'browser', 'interaction', 'root']



class ZopeAddonLayer(BrowserLayer):

    def tearDown(self):
        super().tearDown()
        # The principals, grants and checkers of ftesting.zcml live in
        # module globals, not in the registry the layer pops: without
        # this, setting the layer up again fails (DuplicateLogin).
        zope.testing.cleanup.cleanUp()

    def testTearDown(self):
        # No site or interaction of this test's (closed) database stays.
        zope.component.hooks.setSite(None)
        endInteraction()
        super().testTearDown()


ZOPE_LAYER = ZopeAddonLayer(cybertools_tracking.zope, 'ftesting.zcml',
                            name='ZopeAddonLayer', allowTearDown=True)


def root():
    """The root folder of this test's database, made the current site."""
    folder = ZOPE_LAYER.getRootFolder()
    zope.component.hooks.setSite(folder)
    return folder


def browser(login=None):
    """A zope.testbrowser Browser on the publisher, logged in as ``login``
    (a principal of ftesting.zcml: 'reader' or 'manager'), or anonymous."""
    b = Browser(wsgi_app=ZOPE_LAYER.make_wsgi_app())
    b.handleErrors = True
    b.raiseHttpErrors = False
    if login is not None:
        b.addHeader('Authorization', 'Basic %s:%spw' % (login, login))
    return b


class interaction:
    """``with interaction('test.reader'):`` security checks as that
    principal (None: the unauthenticated one)."""

    def __init__(self, principalId=None):
        self.principal = (principalRegistry.getPrincipal(principalId)
                          if principalId else
                          principalRegistry.unauthenticatedPrincipal())

    def __enter__(self):
        newInteraction(Participation(self.principal))
        return self.principal

    def __exit__(self, *exc):
        endInteraction()
