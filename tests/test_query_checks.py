"""The rules of query values that the command line and HTTP share
(``query.check_pattern``, ``query.check_time_range``), and what
``query()`` itself does with such values (loops compatibility)."""

import pytest
import transaction
import ZODB

from cybertools_tracking.db import get_storage
from cybertools_tracking.query import UnknownCriterionError
from cybertools_tracking.query import check_pattern, check_time_range
from cybertools_tracking.validation import InvalidValueError


@pytest.fixture
def storage():
    db = ZODB.DB(None)
    connection = db.open()
    storage = get_storage(connection)
    storage.saveUserTrack('python/intro', 0, 'ann', {}, timeStamp=100)
    yield storage
    transaction.abort()
    connection.close()
    db.close()


@pytest.mark.parametrize('value', ['py*on/intro', '*ann', 'a**'])
def test_a_star_not_at_the_end_is_refused(value):
    with pytest.raises(InvalidValueError, match=r"^--task '.*': only a "
                       r"trailing \* makes a prefix"):
        check_pattern('--task', value)


@pytest.mark.parametrize('value', ['python*', 'ann', '*', ''])
def test_a_trailing_star_or_none_is_taken(value):
    assert check_pattern('taskId', value) is None


def test_a_reversed_range_is_refused_naming_both_ends():
    with pytest.raises(InvalidValueError) as caught:
        check_time_range(20, 10, ('--from', '--to'), ('b', 'a'))
    assert str(caught.value) == ('--from b is after --to a: no time is in '
                                 'that range; give the earlier time to '
                                 '--from')
    for ends in ((10, 10), (10, 20), (None, 5), (5, None)):
        assert check_time_range(*ends) is None


def test_query_itself_answers_such_values_with_no_tracks(storage):
    # loops compatibility: no error, nothing found
    assert storage.query(taskId='py*on/intro') == []
    assert storage.query(timeFrom=200, timeTo=100) == []
    assert len(storage.query(taskId='py*')) == 1


def test_an_unknown_criterion_carries_its_names(storage):
    with pytest.raises(UnknownCriterionError) as caught:
        storage.query(user='ann', foo=1)
    error = caught.value
    assert isinstance(error, InvalidValueError)
    assert (error.unknown, error.extras, error.pending) == (
        ['foo', 'user'], [], [])
    assert str(error).startswith("unknown query criterion 'foo', 'user' "
                                 "(did you mean 'userName'?): expected ")


@pytest.mark.parametrize('name, meant', [
    ('user', "'userName'"), ('USERNAME', "'userName'"), ('task', "'taskId'"),
    ('from', "'timeFrom'"), ('newest', "'newestFirst'"), ('foo', None)])
def test_an_unknown_criterion_offers_the_closest_names(storage, name, meant):
    """The rule of ``validation.close_names``, as HTTP offers its
    parameters and ``forget-user`` user names."""
    with pytest.raises(UnknownCriterionError) as caught:
        storage.query(**{name: 'x'})
    message = str(caught.value)
    if meant is None:
        assert message.startswith("unknown query criterion %r: " % name)
        assert 'did you mean' not in message
    else:
        assert message.startswith("unknown query criterion %r (did you mean "
                                  "%s?): expected " % (name, meant))
        assert message.count('did you mean') == 1


def test_the_command_line_refuses_it_with_the_same_words(tmp_path):
    from tests.test_cli_import import cli
    path = str(tmp_path / 'q.fs')
    code, out, err = cli('--db', path, 'prune', '--before', '2024-01-01',
                         '--task', 'py*on')
    assert code == 2 and out == ''
    assert ("--task 'py*on': only a trailing * makes a prefix ('py*'); a * "
            "at the start or inside a value is not a pattern") in err
