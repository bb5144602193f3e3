"""The checks of cybertools_tracking.validation, value by value.

How the storage uses them (nothing written when one fails) is tested in
test_storage.py and test_storage_hostile.py.
"""

import collections
import datetime
import decimal
import enum
import fractions
import types

import pytest

from cybertools_tracking.validation import (
    MAX_DEPTH, TIMESTAMP_MAX, TIMESTAMP_MIN, InvalidTypeError,
    InvalidValueError, ValidationError, check_index_value, check_name,
    check_new_name, check_run_id, check_timestamp, close_names, copy_data,
    shorten)


def nested(levels, leaf=1):
    """A dict ``levels`` deep, counting itself: {'a': {'a': ... leaf}}."""
    data = leaf
    for _ in range(levels):
        data = {'a': data}
    return data


def test_errors_are_type_and_value_errors():
    assert issubclass(InvalidTypeError, TypeError)
    assert issubclass(InvalidValueError, ValueError)
    assert issubclass(InvalidTypeError, ValidationError)
    assert issubclass(InvalidValueError, ValidationError)


def test_close_names_case_first_then_closest():
    names = ['userName', 'taskId', 'timeFrom', 'Ann', 'hannah', 'ann']
    assert close_names('user', names) == ['userName']
    assert close_names('USERNAME', names) == ['userName']
    assert close_names('from', names) == ['timeFrom']
    assert close_names('anne', names) == ['Ann', 'ann', 'hannah']
    assert close_names('ANN', names) == ['Ann', 'ann', 'hannah']
    assert close_names('zzz', names) == []
    assert close_names('ann', ['ann']) == []          # not itself
    assert len(close_names('a', ['a1', 'a2', 'a3', 'a4'], n=2)) == 2


def test_shorten_never_fails():
    class Hostile:
        def __repr__(self):
            raise RuntimeError('no')
    assert shorten('x' * 1000).endswith("xxx'")
    assert len(shorten('x' * 1000)) < 80
    assert shorten(Hostile()).startswith('<Hostile instance at ')
    assert shorten(10 ** 5000) == '<an int of 16610 bits>'
    assert shorten('bad\udcff') == "'bad\\udcff'"


def test_names():
    assert check_name('taskId', 'a\u00e4\u2713') == 'a\u00e4\u2713'

    class Name(str):
        pass
    plain = check_name('taskId', Name('n'))
    assert plain == 'n' and type(plain) is str
    with pytest.raises(InvalidTypeError,
                       match="^userName must be a string, got b'u'$"):
        check_name('userName', b'u')
    with pytest.raises(InvalidValueError) as info:
        check_name('userName', 'bad\udcff')
    assert str(info.value) == (
        "userName must be text that UTF-8 can encode, got 'bad\\udcff' "
        "(a lone surrogate at position 3)")


def test_new_names():
    assert check_new_name('taskId', 'a b/é\u00a0') == 'a b/é\u00a0'

    class Name(str):
        pass
    assert type(check_new_name('taskId', Name('x'))) is str
    for bad, words in (('', 'not be empty'), ('*', '* finds every task'),
                       ('t*', "'t*' finds every task starting with 't'"),
                       ('\x00', 'U+0000 at position 0'),
                       ('ab\x1f', 'U+001F at position 2'),
                       ('\x7f', 'U+007F'), ('a\x85', 'U+0085 at position 1'),
                       ('a\u2028b', 'U+2028'), (' \t ', 'only spaces')):
        with pytest.raises(InvalidValueError) as info:
            check_new_name('taskId', bad)
        assert words in str(info.value)
    with pytest.raises(InvalidValueError, match="every name starting"):
        check_new_name('userName', 'ann*')
    with pytest.raises(InvalidTypeError):
        check_new_name('taskId', None)
    # The lookup check takes them: stored names stay readable.
    assert check_name('taskId', '') == ''


@pytest.mark.parametrize('value, error, text', [
    ('1', InvalidTypeError, "runId must be an int, got '1'"),
    (True, InvalidTypeError, 'runId must be an int, got True'),
    (1.0, InvalidTypeError, 'runId must be an int, got 1.0'),
    (-1, InvalidValueError, 'runId must not be negative, got -1'),
    (2 ** 63, InvalidValueError, 'runId must be at most 2**63 - 1 (a 64-bit '
     'key), got 9223372036854775808'),
])
def test_bad_run_ids(value, error, text):
    with pytest.raises(error) as info:
        check_run_id(value)
    assert str(info.value) == text


def test_run_ids():
    assert check_run_id(None) == 0
    assert check_run_id(2 ** 63 - 1) == 2 ** 63 - 1

    class Level(enum.IntEnum):
        ONE = 1
    assert type(check_run_id(Level.ONE)) is int


def test_timestamps():
    assert check_timestamp(5) == 5
    assert check_timestamp(5.9) == 5 and check_timestamp(-0.5) == -1
    when = datetime.datetime(2023, 11, 14, 22, 13, 20,
                             tzinfo=datetime.timezone.utc)
    assert check_timestamp(when) == 1_700_000_000
    assert check_timestamp(TIMESTAMP_MIN) == TIMESTAMP_MIN
    assert check_timestamp(TIMESTAMP_MAX + 0.5) == TIMESTAMP_MAX
    first = datetime.datetime(1, 1, 1, tzinfo=datetime.timezone.utc)
    assert check_timestamp(first) == TIMESTAMP_MIN


@pytest.mark.parametrize('value, error, words', [
    (2 ** 63, InvalidValueError, ['9223372036854775808', 'years 1 to 9999']),
    (1e19, InvalidValueError, ['1e+19', 'years 1 to 9999']),
    (-2 ** 64, InvalidValueError, ['-18446744073709551616']),
    (TIMESTAMP_MAX + 1, InvalidValueError, ['253402300800']),
    (TIMESTAMP_MIN - 1, InvalidValueError, ['-62135596801']),
    (float('nan'), InvalidValueError, ['must be finite, got nan']),
    (float('-inf'), InvalidValueError, ['must be finite, got -inf']),
    (True, InvalidTypeError, ['a number of seconds or a datetime, got True']),
    ('2023-11-14', InvalidTypeError, ["got '2023-11-14'"]),
    (datetime.date(2023, 1, 1), InvalidTypeError, ['datetime.date(2023']),
])
def test_bad_timestamps(value, error, words):
    with pytest.raises(error) as info:
        check_timestamp(value, 'timeFrom')
    assert str(info.value).startswith('timeFrom ')
    for word in words:
        assert word in str(info.value)


def test_index_values():
    assert check_index_value('i', 'x') == 'string'
    assert check_index_value('i', 2 ** 100) == 'number'
    assert check_index_value('i', float('inf')) == 'number'
    assert check_index_value('i', True, 'number') == 'number'
    with pytest.raises(InvalidValueError, match="index 'i' must not be NaN"):
        check_index_value('i', float('nan'))
    with pytest.raises(InvalidValueError, match='lone surrogate'):
        check_index_value('i', '\ud800')
    with pytest.raises(InvalidTypeError, match="index 'i' holds strings, "
                                               "got 3"):
        check_index_value('i', 3, 'string')
    for value in (None, b'x', [1], decimal.Decimal(1), datetime.date.today()):
        with pytest.raises(InvalidTypeError, match='a string or a number'):
            check_index_value('i', value)


def test_copy_data_copies_flat_and_nested_data():
    flat = {'s': 'x', 'i': 1, 'f': 1.5, 'b': True, 'n': None}
    copied = copy_data(flat)
    assert copied == flat and copied is not flat and type(copied) is dict
    data = {'list': [1, {'k': 'v'}], 'tuple': (1, [2]), 'text': 'caf\u00e9',
            1: 'int key', None: 'none key', 'bytes': b'\x00',
            'when': datetime.datetime(2023, 1, 1),
            'dec': decimal.Decimal('1.5'),
            'frac': fractions.Fraction(1, 3), 'nan': float('nan')}
    copied = copy_data(data)
    assert copied['list'] == [1, {'k': 'v'}]
    assert copied['list'] is not data['list']
    assert copied['list'][1] is not data['list'][1]
    assert copied['tuple'] == (1, [2]) and copied['tuple'][1] is not \
        data['tuple'][1]
    assert copied['dec'] == decimal.Decimal('1.5')
    assert copy_data(None) == {}


def test_copy_data_makes_plain_containers_and_values():
    class Level(enum.IntEnum):
        HIGH = 3

    class Text(str):
        pass
    data = collections.OrderedDict(
        a=types.MappingProxyType({'b': collections.deque and [Level.HIGH]}),
        t=Text('x'), d=collections.defaultdict(list, k=[]))
    copied = copy_data(data)
    assert type(copied) is dict and type(copied['a']) is dict
    assert type(copied['a']['b'][0]) is int and copied['a']['b'] == [3]
    assert type(copied['t']) is str and type(copied['d']) is dict
    assert copy_data({Text('k'): 1}) == {'k': 1}


def test_depth_limit():
    assert copy_data(nested(MAX_DEPTH)) == nested(MAX_DEPTH)
    with pytest.raises(InvalidValueError) as info:
        copy_data(nested(MAX_DEPTH + 1))
    assert str(info.value) == ("data['a']['a']['a']['a']...['a']['a']['a'] "
                               'is nested more than 100 levels deep')
    with pytest.raises(InvalidValueError, match='more than 100 levels'):
        copy_data(nested(500))
    loop = []
    loop.append(loop)
    with pytest.raises(InvalidValueError, match=r"^data\['x'\]\[0\]\[0\]"):
        copy_data({'x': loop})


@pytest.mark.parametrize('data, error, text', [
    ([('a', 1)], InvalidTypeError, "data must be a mapping, got [('a', 1)]"),
    ('text', InvalidTypeError, "data must be a mapping, got 'text'"),
    (dict, InvalidTypeError, "data must be a mapping, got <class 'dict'>"),
    ({'a': object}, InvalidTypeError,
     "data['a'] must be None, a bool, number, string, bytes, date, time, "
     "datetime, timedelta, or a list, tuple or dict of these, got "
     "<class 'object'>"),
    ({'a': {1, 2}}, InvalidTypeError, "data['a'] must be None"),
    ({'a': [1, bytearray(b'x')]}, InvalidTypeError, "data['a'][1] must be"),
    ({'a': ['ok', 'bad\udcff']}, InvalidValueError,
     "data['a'][1] must be text that UTF-8 can encode, got 'bad\\udcff' "
     "(a lone surrogate at position 3)"),
    ({'k\udcff': 1}, InvalidValueError,
     "the keys in data must be text that UTF-8 can encode, got 'k\\udcff'"),
    ({'a': {(1, 2): 1}}, InvalidTypeError,
     "the keys in data['a'] must be strings, numbers, bools or None, got "
     "(1, 2)"),
    ({b'k': 1}, InvalidTypeError, "the keys in data must be strings"),
    ({'d': decimal.Decimal('sNaN')}, InvalidValueError,
     "data['d'] must not be a signalling NaN"),
])
def test_bad_data(data, error, text):
    with pytest.raises(error) as info:
        copy_data(data)
    assert str(info.value).startswith(text)


def test_odd_mappings():
    class KeysFail:
        def keys(self):
            raise KeyError('gone')

    class ItemsFail(collections.abc.Mapping):
        def __getitem__(self, key):
            raise ValueError('bad item')

        def __iter__(self):
            return iter(['a'])

        def __len__(self):
            return 1
    with pytest.raises(InvalidTypeError, match=r"failed to be read: "
                                               r"KeyError: 'gone'"):
        copy_data(KeysFail())
    with pytest.raises(InvalidTypeError, match='ValueError'):
        copy_data(ItemsFail())
    with pytest.raises(InvalidTypeError, match=r"^data\['x'\] must be a "
                                               r"mapping that can be read"):
        copy_data({'x': ItemsFail()})
    assert copy_data(types.MappingProxyType({'a': 1})) == {'a': 1}
