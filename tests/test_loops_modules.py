"""Edge cases of cybertools.tracking.notify, comment and logfile; the
story is doctests/loops-modules.txt."""

import json
import os

import pytest
from zope.interface.verify import verifyObject

from cybertools_tracking import TrackingStorage, timeStamp2ISO
from cybertools_tracking.validation import ValidationError
from cybertools.tracking.comment.base import Comment
from cybertools.tracking.comment.interfaces import IComment
from cybertools.tracking.logfile import Logger, loadLog, loggers
from cybertools.tracking.notify.base import Notification
from cybertools.tracking.notify.base import NotificationManager
from cybertools.tracking.notify.interfaces import INotification
from cybertools.tracking.notify.interfaces import INotificationManager
from cybertools.tracking.tests import testDir

T0 = 1_700_000_000


@pytest.fixture
def logger(tmp_path):
    made = Logger('test-%s' % tmp_path.name, str(tmp_path / 'a.log'))
    yield made
    made.close()


def test_interfaces_are_provided():
    storage = TrackingStorage(trackFactory=Notification)
    manager = NotificationManager(storage)
    verifyObject(INotificationManager, manager)
    manager.notify('t', 'u', 'object_new')
    verifyObject(INotification, storage['0000001'])
    comments = TrackingStorage(trackFactory=Comment)
    comments.saveUserTrack('t', 0, 'u', {})
    verifyObject(IComment, comments['0000001'])


def test_notification_extras_and_priority_go_to_the_data():
    storage = TrackingStorage(trackFactory=Notification)
    NotificationManager(storage).notify('t', 'u', 'invitation',
                                        priority='critical', parent='0000009')
    note = storage['0000001']
    assert note.data == {'media': ['inbox'], 'state': 'new',
                         'type': 'invitation', 'priority': 'critical',
                         'parent': '0000009'}
    assert note.parent == '0000009'
    with pytest.raises(AttributeError):
        note.noSuchField


def test_a_refused_notification_writes_nothing():
    storage = TrackingStorage(trackFactory=Notification)
    with pytest.raises(ValidationError, match='taskId'):
        NotificationManager(storage).notify(None, 'u', 'object_new')
    with pytest.raises(ValidationError, match=r"data\['x'\]"):
        NotificationManager(storage).notify('t', 'u', 'object_new',
                                            x=object())
    assert len(storage) == 0 and storage.getRuns() == []


def test_comment_children_need_a_known_sort_and_a_storage():
    comments = TrackingStorage(trackFactory=Comment)
    first = comments.saveUserTrack('t', 0, 'u', {})
    with pytest.raises(ValueError, match="sort must be one of default, "
                                         "oldest, got 'title'"):
        comments[first].getChildren('title')
    assert Comment('t', 1, 'u', {}).getChildren() == []


def test_comment_replies_of_the_same_second_keep_their_order():
    comments = TrackingStorage(trackFactory=Comment)
    first = comments.saveUserTrack('t', 0, 'u', {}, timeStamp=T0)
    ids = [comments.saveUserTrack('t', 0, 'u', {'parent': first},
                                  timeStamp=T0) for n in range(3)]
    assert comments[first].getChildren() == ids[::-1]
    assert comments[first].getChildren('oldest') == ids


def test_a_second_rollover_on_the_same_day_keeps_the_first_file(logger):
    folder = os.path.dirname(logger.logfile)
    for n in range(3):
        logger.log('line %d' % n)
        logger.doRollover()
    names = sorted(os.listdir(folder))
    assert len(names) == 4          # a.log and three old ones
    kept = ''.join(open(os.path.join(folder, name)).read()
                   for name in names)
    assert all('line %d' % n in kept for n in range(3))


def test_a_logger_made_again_writes_each_line_once(tmp_path):
    path = str(tmp_path / 'b.log')
    first = Logger('again-%s' % tmp_path.name, path)
    second = Logger('again-%s' % tmp_path.name, path)
    second.log('once')
    second.close()
    assert open(path).read().count('once') == 1
    assert first.handler.stream is None or first.handler.stream.closed


def test_log_track_checks_before_writing(logger):
    for bad in [dict(taskId=1, userName='u', data={}),
                dict(taskId='t', userName='u', data={'x': float('nan')}),
                dict(taskId='t', userName='u', data={}, runId=-1)]:
        with pytest.raises((TypeError, ValueError)):
            logger.logTrack(**bad)
    assert open(logger.logfile).read() == ''


def test_load_checks_every_line_before_saving(logger):
    storage = TrackingStorage()
    run = storage.startRun('other')
    logger.logTrack('t', 'u', {'n': 1}, timeStamp=T0)
    logger.log('track;["t", %d, "u", {}, %d]' % (run, T0))  # another task's
    logger.log('track;["t", 99, "u", {}, %d]' % T0)         # no such run
    logger.log('track;{"not": "a list"}')
    logger.log('track;["t", 0, "u", {}, "noon"]')
    with open(logger.logfile, 'a') as f:
        f.write('no time here\n')
        f.write('yesterday;track;[]\n')
    result = loadLog(storage, logger.logfile)
    assert result.loaded == 1 and result.skipped == 0
    assert [number for number, reason in result.bad] == [2, 3, 4, 5, 6, 7]
    assert 'belongs to task' in result.bad[0][1]
    assert 'no such run' in result.bad[1][1]
    assert 'no ";"' in result.bad[4][1]
    assert len(storage) == 1


def test_load_uses_the_line_time_for_records_without_one(logger):
    logger.log('track;' + json.dumps(['t', 0, 'u', {}]))
    storage = TrackingStorage()
    assert loadLog(storage, logger.logfile).loaded == 1
    line_time = open(logger.logfile).read()[:19]
    assert timeStamp2ISO(storage['0000001'].timeStamp) == line_time[:16]


def test_load_with_a_parser_of_ones_own(logger):
    logger.log('001;anna;page-1')
    logger.log('001;bert;page-2')

    def parse(message, timeStamp):
        version, user, page = message.split(';')
        return page, 0, user, {'version': version}, timeStamp

    storage = TrackingStorage()
    assert loadLog(storage, logger.logfile, parse).loaded == 2
    assert storage.getTaskIds() == ['page-1', 'page-2']


def test_loops_names():
    assert isinstance(loggers, dict)
    assert str(os.getpid()) in testDir

