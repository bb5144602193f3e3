"""The Plone add-on: the profile installs a storage as a local utility.

Needs Plone 6 and plone.app.testing (the ``plone`` extra). The default
test run has no Plone and skips this module; CI runs it in a step of its
own with Plone installed and ``CYBERTOOLS_TEST_PLONE=required``, where a
missing Plone is a failure.
"""

import os
import unittest

import pytest

try:
    import plone.app.testing  # noqa: F401
except ImportError:
    if os.environ.get('CYBERTOOLS_TEST_PLONE') == 'required':
        raise
    pytest.skip("Plone is not installed (pip install -e '.[test,plone]'; "
                'see the README)', allow_module_level=True)

import transaction  # noqa: E402
from plone.app.testing import IntegrationTesting  # noqa: E402
from plone.app.testing import PLONE_FIXTURE, PloneSandboxLayer  # noqa: E402
from plone.app.testing import applyProfile  # noqa: E402
from zope.component import getUtility, queryUtility  # noqa: E402

from cybertools_tracking import TrackingStorage  # noqa: E402
from cybertools_tracking.interfaces import ITrackingStorage  # noqa: E402


class TrackingLayer(PloneSandboxLayer):

    defaultBases = (PLONE_FIXTURE,)

    def setUpZope(self, app, configurationContext):
        import cybertools_tracking.plone
        self.loadZCML(package=cybertools_tracking.plone)

    def setUpPloneSite(self, portal):
        applyProfile(portal, 'cybertools_tracking.plone:default')


TRACKING_FIXTURE = TrackingLayer()
TRACKING_INTEGRATION = IntegrationTesting(
    bases=(TRACKING_FIXTURE,), name='TrackingLayer:Integration')


def _ordered(layer=TRACKING_INTEGRATION, found=None):
    """The layer and its bases, bases first (what zope.testrunner sets
    up, in that order)."""
    found = [] if found is None else found
    for base in layer.__bases__:
        _ordered(base, found)
    if layer not in found:
        found.append(layer)
    return found


@pytest.fixture(scope='module', autouse=True)
def _plone_layer():
    # pytest has no layers: set up what zope.testrunner would.
    done = []
    try:
        for layer in _ordered():
            layer.setUp()
            done.append(layer)
        yield
    finally:
        for layer in reversed(done):
            layer.tearDown()


@pytest.fixture(autouse=True)
def _plone_test():
    layers = _ordered()
    for layer in layers:
        layer.testSetUp()
    yield
    for layer in reversed(layers):
        layer.testTearDown()


class ProfileTests(unittest.TestCase):

    layer = TRACKING_INTEGRATION

    def test_the_profile_installs_the_storage_as_utility(self):
        storage = getUtility(ITrackingStorage)
        self.assertIsInstance(storage, TrackingStorage)
        trackId = storage.saveUserTrack('front-page', 0, 'anna', {'n': 1})
        self.assertEqual(storage[trackId].data, {'n': 1})
        transaction.abort()

    def test_the_storage_belongs_to_the_site(self):
        portal = TRACKING_INTEGRATION['portal']
        manager = portal.getSiteManager()
        self.assertIs(manager.queryUtility(ITrackingStorage),
                      getUtility(ITrackingStorage))
        self.assertIsNone(queryUtility(ITrackingStorage, 'other'))
