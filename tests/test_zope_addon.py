"""The Zope add-on in a Zope application: ZCML, security, utility, views.

Every test runs in ``ZOPE_LAYER`` (cybertools_tracking/zope/testing.py): the add-on's ZCML
loaded with xmlconfig, a fresh database, and the Zope publisher's WSGI
app. The test classes name the layer for zope.testrunner; under pytest
the two autouse fixtures below set it up the same way.
"""

import unittest

import pytest
import transaction
import zope.component
import zope.event
from zope.component import getUtility, queryUtility
from zope.container.contained import uncontained
from zope.interface.verify import verifyObject
from zope.location.interfaces import IContained, ILocation
from zope.configuration import xmlconfig
from zope.interface import implementer
from zope.security.checker import ProxyFactory
from zope.security.interfaces import ForbiddenAttribute, IPermission
from zope.security.interfaces import Unauthorized
from zope.site.folder import Folder
from zope.site.site import LocalSiteManager

from cybertools_tracking import Run, Track, TrackingStorage
from cybertools_tracking.goals import CountTracker, KeyValueGE
from cybertools_tracking.goals.interfaces import IAllCompletedEvent
from cybertools_tracking.interfaces import IStorageGoals, ITrack
from cybertools_tracking.interfaces import ITrackingStorage
from cybertools_tracking.zope.site import addTrackingStorage
from cybertools.tracking.browser import TrackView
from cybertools.tracking.comment.base import Comment
from cybertools.tracking.notify.base import Notification
from cybertools.tracking.notify.interfaces import INotificationManager
from cybertools_tracking.zope.testing import ZOPE_LAYER, browser
from cybertools_tracking.zope.testing import interaction, root

T0 = 1_700_000_000      # 2023-11-14 22:13:20 UTC


class ILessonTrack(ITrack):
    """A track class of an application, with a view of its own."""


@implementer(ILessonTrack)
class LessonTrack(Track):
    typeName = 'LessonTrack'


class LessonTrackView(TrackView):
    """What loops' subclasses do: a title and a link for the task."""

    @property
    def taskTitle(self):
        return 'Lesson ' + self.task

    @property
    def taskUrl(self):
        return 'http://localhost/lessons/' + self.task


LESSON_ZCML = """
<configure xmlns="http://namespaces.zope.org/zope"
           xmlns:browser="http://namespaces.zope.org/browser">
  <include package="zope.security" file="meta.zcml" />
  <include package="zope.browserpage" file="meta.zcml" />
  <class class="tests.test_zope_addon.LessonTrack">
    <require like_class="cybertools_tracking.track.Track" />
  </class>
  <browser:page for="tests.test_zope_addon.ILessonTrack" name="index.html"
      class="tests.test_zope_addon.LessonTrackView" permission="zope.View" />
</configure>
"""


@pytest.fixture(scope='module', autouse=True)
def _zope_layer():
    ZOPE_LAYER.setUp()
    yield
    ZOPE_LAYER.tearDown()


@pytest.fixture(autouse=True)
def _zope_test():
    ZOPE_LAYER.testSetUp()
    yield
    ZOPE_LAYER.testTearDown()


def _filled(count=5):
    """A storage at /tracks with ``count`` tracks, one a second from T0,
    alternating between two tasks; committed."""
    storage = root()['tracks'] = TrackingStorage()
    for n in range(count):
        storage.saveUserTrack('task-%d' % (n % 2), 0, 'user-%d' % n,
                              {'n': n, 'items': [n, n + 1]},
                              timeStamp=T0 + n)
    transaction.commit()
    return storage


class ConfigurationTests(unittest.TestCase):

    layer = ZOPE_LAYER

    def test_permission_is_defined(self):
        permission = getUtility(IPermission,
                                'cybertools.tracking.ManageTracks')
        self.assertIn('Manage tracks', permission.title)

    def test_tracks_and_runs_are_located_and_contained(self):
        storage = _filled(1)
        track = storage['0000001']
        for obj in (track, storage.getRun(1), storage):
            self.assertTrue(IContained.providedBy(obj), obj)
            verifyObject(ILocation, obj)
        self.assertIs(track.__parent__, storage)
        self.assertIsNone(Run(1).__parent__)

    def test_a_track_is_stored_in_a_folder_as_it_is(self):
        # No ContainedProxy is made for a contained object.
        storage = TrackingStorage()
        folder = root()['f'] = Folder()
        folder['tracks'] = storage
        self.assertIs(folder['tracks'], storage)
        self.assertEqual(storage.__name__, 'tracks')

    def test_goals_adapter_is_registered_in_the_component_registry(self):
        storage = TrackingStorage()
        registered = zope.component.getAdapter(storage, IStorageGoals)
        self.assertIs(registered.storage, storage)


class SecurityTests(unittest.TestCase):

    layer = ZOPE_LAYER

    def setUp(self):
        self.storage = _filled(2)
        self.proxied = ProxyFactory(self.storage)

    def test_a_reader_reads_tracks_and_their_data(self):
        with interaction('test.reader'):
            track = self.proxied['0000002']
            self.assertEqual(track.taskId, 'task-1')
            self.assertEqual(track.data['items'][1], 2)
            self.assertEqual(sorted(track.data.keys()), ['items', 'n'])
            self.assertEqual(track.metadata['userName'], 'user-1')
            self.assertEqual(
                [t.userName for t in self.proxied.query(taskId='task-*')],
                ['user-0', 'user-1'])
            self.assertEqual(self.proxied.getRun(1).taskId, 'task-0')
            self.assertEqual(list(self.proxied.runs), [1, 2])
            self.assertEqual(self.proxied.runs[2].taskId, 'task-1')

    def test_a_reader_cannot_change_anything(self):
        with interaction('test.reader'):
            track = self.proxied['0000002']
            with self.assertRaises(Unauthorized):
                track.update({'n': 9})
            with self.assertRaises(Unauthorized):
                track.data = {'n': 9}
            with self.assertRaises(Unauthorized):
                self.proxied.saveUserTrack('t', 0, 'u', {})
            with self.assertRaises(Unauthorized):
                del self.proxied['0000001']
        self.assertEqual(len(self.storage), 2)
        self.assertEqual(self.storage['0000002'].data['n'], 1)

    def test_internals_are_forbidden_to_everybody(self):
        with interaction('test.manager'):
            track = self.proxied['0000001']
            with self.assertRaises(ForbiddenAttribute):
                track._data
            with self.assertRaises(ForbiddenAttribute):
                self.proxied._tracks

    def test_a_manager_changes_tracks(self):
        with interaction('test.manager'):
            self.proxied.saveUserTrack('task-0', 0, 'user-9', {'n': 9},
                                       timeStamp=T0 + 9)
            self.proxied['0000001'].update({'n': 10})
            del self.proxied['0000002']
        self.assertEqual(sorted(self.storage.keys()),
                         ['0000001', '0000003'])
        self.assertEqual(self.storage['0000001'].data['n'], 10)

    def test_proxied_tracks_are_taken_by_the_storage(self):
        # Zope code hands the storage the (proxied) tracks it was given.
        with interaction('test.manager'):
            first = self.proxied['0000001']
            second = self.proxied['0000002']
            self.proxied.updateTrack(first, {'n': 11})
            self.proxied.setTrackData(second, {'n': 12})
            self.assertEqual(first.data['n'], 11)
            self.assertEqual(self.proxied.getEventId(first), None)
            self.proxied.removeTrack(second)
        self.assertEqual(sorted(self.storage.keys()), ['0000001'])
        self.assertEqual(self.storage['0000001'].data['n'], 11)
        other = TrackingStorage()
        other.saveUserTrack('task-0', 0, 'user-0', {'n': 0}, timeStamp=T0)
        other = ProxyFactory(other)
        with interaction('test.manager'):
            with self.assertRaises(KeyError):   # not one of this storage's
                self.proxied.removeTrack(other['0000001'])
        self.assertEqual(len(self.storage), 1)

    def test_notifications_and_comments_have_declarations(self):
        storage = root()['notes'] = TrackingStorage(trackFactory=Notification)
        with interaction('test.manager'):
            manager = INotificationManager(ProxyFactory(storage))
            manager.notify('doc-1', 'anna', 'object_changed')
        comments = TrackingStorage(trackFactory=Comment)
        comments.saveUserTrack('doc-1', 0, 'bob', {'subject': 'Hi'})
        with interaction('test.reader'):
            note = ProxyFactory(storage)['0000001']
            self.assertEqual((note.state, note.media[0]), ('new', 'inbox'))
            comment = ProxyFactory(comments)['0000001']
            self.assertEqual((comment.subject, comment.getChildren()),
                             ('Hi', []))
            with self.assertRaises(Unauthorized):
                note.update({'state': 'done'})
            with self.assertRaises(Unauthorized):
                INotificationManager(ProxyFactory(storage)).notify(
                    'doc-1', 'anna', 'object_new')
        self.assertEqual(len(storage), 1)

    def test_loops_storage_class_has_the_declarations(self):
        from cybertools.tracking.btree import TrackingStorage as Loops
        storage = Loops()
        storage.saveUserTrack('doc-1', 0, 'anna', {})
        with interaction('test.reader'):
            proxied = ProxyFactory(storage)
            self.assertEqual(len(proxied.query(userName='anna', step=10)),
                             1)
            with self.assertRaises(Unauthorized):
                proxied.saveUserTrack('doc-1', 0, 'anna', {})
        with interaction('test.manager'):
            ProxyFactory(storage).saveUserTrack('doc-1', 0, 'anna', {})
        self.assertEqual(len(storage), 2)

    def test_anonymous_cannot_read(self):
        with interaction(None):
            with self.assertRaises(Unauthorized):
                self.proxied['0000001']


class EventTests(unittest.TestCase):

    layer = ZOPE_LAYER

    def test_container_removal_unindexes_the_track(self):
        storage = _filled(2)
        track = storage['0000001']
        uncontained(track, storage, '0000001')
        self.assertNotIn('0000001', storage)
        self.assertEqual(storage.getTaskIds(), ['task-1'])
        self.assertEqual(storage.query(userName='user-0'), [])

    def test_removal_from_elsewhere_is_left_alone(self):
        storage = _filled(1)
        track = storage['0000001']
        uncontained(track, Folder(), 'other')
        self.assertIn('0000001', storage)

    def test_goal_events_reach_zope_subscribers(self):
        heard = []

        @zope.component.adapter(IAllCompletedEvent)
        def handler(event):
            heard.append(event)

        zope.component.provideHandler(handler)
        try:
            storage = TrackingStorage()
            storage.goals.add_tracker('anna', CountTracker(
                name='two passed', target=2,
                conditions=[KeyValueGE('data.score', 5)]))
            for score in (7, 8):
                storage.saveUserTrack('quiz', 0, 'anna', {'score': score})
        finally:
            zope.component.getGlobalSiteManager().unregisterHandler(handler)
        self.assertEqual([(e.group_id, e.name) for e in heard],
                         [('anna', 'two passed')])


class LocalUtilityTests(unittest.TestCase):

    layer = ZOPE_LAYER

    def test_the_root_site_has_a_storage(self):
        folder = root()
        storage = getUtility(ITrackingStorage)
        self.assertIs(folder.getSiteManager()['default']['tracking'],
                      storage)
        self.assertIsInstance(storage, TrackingStorage)

    def test_a_new_site_gets_its_own(self):
        folder = root()['sub'] = Folder()
        folder.setSiteManager(LocalSiteManager(folder))
        own = folder.getSiteManager()['default']['tracking']
        self.assertIs(folder.getSiteManager().getUtility(ITrackingStorage),
                      own)
        self.assertIsNot(own, getUtility(ITrackingStorage))

    def test_a_second_storage_is_refused_and_nothing_changes(self):
        folder = root()
        manager = folder.getSiteManager()
        before = list(manager['default'].keys())
        with self.assertRaisesRegex(ValueError, 'has an ITrackingStorage'):
            addTrackingStorage(folder, name='more')
        with self.assertRaisesRegex(ValueError, "'tracking' is taken"):
            addTrackingStorage(folder, utilityName='other')
        self.assertEqual(list(manager['default'].keys()), before)
        self.assertIsNone(queryUtility(ITrackingStorage, 'other'))

    def test_a_named_one_beside_it(self):
        folder = root()
        storage = addTrackingStorage(folder, name='devices',
                                     utilityName='devices')
        self.assertIs(getUtility(ITrackingStorage, 'devices'), storage)
        self.assertEqual(storage.__name__, 'devices')


class PublisherTests(unittest.TestCase):
    """The views, published by the Zope publisher (zope.app.wsgi)."""

    layer = ZOPE_LAYER

    def test_listing_newest_first_in_batches(self):
        _filled(5)
        b = browser('reader')
        b.open('http://localhost/tracks?b_size=2')
        self.assertEqual(b.headers['status'], '200 Ok')
        html = b.contents
        for column in ('<th>ID</th>', '<th>Task</th>', '<th>Run</th>',
                       '<th>User</th>', '<th>Time</th>'):
            self.assertIn(column, html)
        self.assertIn('1&ndash;2\n  of 5 tracks', html)
        rows = html.split('<td class="id">')[1:]
        self.assertEqual(len(rows), 2)
        self.assertIn('href="http://localhost/tracks/0000005">0000005</a>',
                      rows[0])
        self.assertIn('<td class="user">user-4</td>', rows[0])
        self.assertIn('<td class="time">2023-11-14 22:13</td>', rows[0])
        self.assertIn('>0000004</a>', rows[1])
        b.getLink('older').click()
        self.assertIn('3&ndash;4', b.contents)
        self.assertIn('>0000003</a>', b.contents)
        b.getLink('older').click()
        self.assertIn('5&ndash;5', b.contents)
        self.assertNotIn('class="next"', b.contents)
        b.getLink('newer').click()
        self.assertIn('>0000003</a>', b.contents)

    def test_newest_by_time_not_by_number(self):
        storage = _filled(3)
        storage.updateTrack('0000001', {'n': 99}, timeStamp=T0 + 60)
        transaction.commit()
        b = browser('reader')
        b.open('http://localhost/tracks')
        ids = [part.split('</a>')[0].rsplit('>', 1)[1]
               for part in b.contents.split('<td class="id">')[1:]]
        self.assertEqual(ids, ['0000001', '0000003', '0000002'])

    def test_track_view_shows_metadata_and_data(self):
        _filled(3)
        b = browser('reader')
        b.open('http://localhost/tracks')
        b.getLink('0000002').click()
        self.assertEqual(b.url, 'http://localhost/tracks/0000002')
        html = b.contents
        self.assertIn('<h1>Track 0000002</h1>', html)
        self.assertIn('<td class="task">task-1</td>', html)
        self.assertIn('<td class="run">2</td>', html)
        self.assertIn('<td class="user">user-1</td>', html)
        self.assertIn('<td class="time">2023-11-14 22:13</td>', html)
        self.assertIn('<th>items</th>\n    <td>[1, 2]</td>', html)

    def test_a_loops_style_view_subclass_is_listed_through(self):
        # loops registers TrackView subclasses for its track classes; the
        # listing asks each track for its index.html view. (These
        # registrations stay in the layer: they concern only LessonTrack.)
        xmlconfig.string(LESSON_ZCML)
        storage = root()['tracks'] = TrackingStorage(trackFactory=LessonTrack)
        storage.saveUserTrack('lesson-7', 0, 'anna', {'page': 3},
                              timeStamp=T0)
        transaction.commit()
        b = browser('reader')
        b.open('http://localhost/tracks')
        self.assertIn('<td class="task"><a href="http://localhost/'
                      'lessons/lesson-7">Lesson lesson-7</a></td>',
                      b.contents)
        b.getLink('0000001').click()
        self.assertIn('<td class="task"><a href="http://localhost/'
                      'lessons/lesson-7">Lesson lesson-7</a></td>',
                      b.contents)

    def test_anonymous_is_asked_to_log_in(self):
        _filled(1)
        for url in ('http://localhost/tracks',
                    'http://localhost/tracks/0000001'):
            b = browser()
            b.open(url)
            self.assertEqual(b.headers['status'], '401 Unauthorized')

    def test_unknown_track_is_not_found(self):
        _filled(1)
        b = browser('reader')
        b.open('http://localhost/tracks/0000099')
        self.assertEqual(b.headers['status'], '404 Not Found')

    def test_empty_storage(self):
        root()['tracks'] = TrackingStorage()
        transaction.commit()
        b = browser('reader')
        b.open('http://localhost/tracks')
        self.assertIn('No tracks.', b.contents)
        self.assertNotIn('<table', b.contents)
