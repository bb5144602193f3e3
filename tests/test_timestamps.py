"""timestamps.parse_time: the times the command line, import and the
HTTP API take, and what it says of those it cannot take."""

import pytest

from cybertools_tracking.timestamps import TIME_FORMATS, parse_time


@pytest.mark.parametrize('text, reason', [
    ('2024-02-30', 'February 2024 has 29 days'),
    ('2023-02-29', 'February 2023 has 28 days'),
    ('2024-04-31T10:00', 'April 2024 has 30 days'),
    ('2024-02-30T10:00:00+01:00', 'February 2024 has 29 days'),
    ('2024-13-01', 'the month must be 01 to 12, not 13'),
    ('2024-00-10', 'the month must be 01 to 12, not 00'),
    ('2024-01-15T24:00', 'the hour must be 00 to 23, not 24'),
    ('2024-01-15T10:60Z', 'the minute must be 00 to 59, not 60'),
    ('2024-01-15T10:00:61', 'the second must be 00 to 59, not 61'),
    ('0000-01-01', 'years start at 0001'),
])
def test_a_time_that_does_not_exist_says_why(text, reason):
    with pytest.raises(ValueError) as raised:
        parse_time(text)
    assert str(raised.value) == ('%r does not exist: %s (accepted: %s)'
                                 % (text, reason, TIME_FORMATS))


@pytest.mark.parametrize('text', ['yesterday', '2024/01/15', '15.01.2024',
                                  '2024-01', ''])
def test_a_time_in_no_accepted_format_names_the_formats(text):
    with pytest.raises(ValueError) as raised:
        parse_time(text)
    assert str(raised.value) == 'expected %s, got %r' % (TIME_FORMATS, text)


def test_times_that_exist_are_taken():
    assert parse_time('2024-02-29T00:00Z') == 1709164800
    assert parse_time('2024-02-29T23:59:59Z') == 1709251199
    assert parse_time('2024-02-29T12:00Z', end=True) == 1709208059
    assert parse_time('1709164800') == 1709164800


def test_whole_seconds_is_the_rule_of_files():
    from cybertools_tracking.timestamps import parse_time, whole_seconds
    assert whole_seconds(1700000000) == 1700000000
    assert whole_seconds(1700000000.0) == 1700000000
    assert type(whole_seconds('1700000000.0')) is int
    assert whole_seconds('2024-01-01T00:00:00Z') == \
        parse_time('2024-01-01T00:00:00Z')
    assert whole_seconds(True) is True          # for check_timestamp
    for bad, words in ((1.5, 'round it yourself: 1 or 2'),
                       (' 1700000000.5 ', 'expected whole seconds'),
                       ('2024-01-01T00:00:00.25Z', 'a fraction of a second')):
        with pytest.raises(ValueError, match=words):
            whole_seconds(bad)
