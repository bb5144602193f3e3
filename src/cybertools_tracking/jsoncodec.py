"""Track data as strict JSON, and back, without loss.

A track's data may hold what JSON has no word for (see
``validation.copy_data``): NaN and infinities, Decimal, Fraction, bytes,
dates and times, tuples, and keys that are not strings. ``query`` and
``export`` write them, and ``import`` reads them back, as one-key objects
whose key starts with ``$``:

==================  =============================================
value               JSON
==================  =============================================
NaN, inf, -inf      ``{"$float": "nan"}``, ``"inf"``, ``"-inf"``
Decimal('1.10')     ``{"$decimal": "1.10"}`` (digits kept)
Fraction(1, 3)      ``{"$fraction": "1/3"}``
b'\\x00'             ``{"$bytes": "AA=="}`` (base64)
datetime, date,     ``{"$datetime": "2024-01-15T08:00:00+00:00"}``,
time                ``{"$date": ...}``, ``{"$time": ...}`` (ISO 8601)
timedelta           ``{"$timedelta": [days, seconds, microseconds]}``
tuple               ``{"$tuple": [...]}``
a dict with a key   ``{"$map": [[key, value], ...]}``
that is not a
string or starts
with ``$``
==================  =============================================

So the output is strict JSON (RFC 8259: no ``NaN`` literal), every value
has one encoding, and a plain object never looks like a tagged one. A
time zone comes back as a fixed offset (the same instant). Storing NaN
in data is allowed; only indexed values refuse it (a BTree cannot order
it), which is why it is encoded here rather than refused or nulled.
"""

import base64
import datetime
import decimal
import fractions
import json
import math

__all__ = ['dumps', 'loads', 'encode']


def encode(value):
    """``value`` as plain JSON types (dict with str keys, list, str, int,
    finite float, bool, None)."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is float:
        if math.isfinite(value):
            return value
        return {'$float': 'nan' if value != value else
                ('inf' if value > 0 else '-inf')}
    if isinstance(value, dict):
        if all(type(k) is str and not k.startswith('$') for k in value):
            return {k: encode(v) for k, v in value.items()}
        return {'$map': [[encode(k), encode(v)] for k, v in value.items()]}
    if kind is list:
        return [encode(v) for v in value]
    if kind is tuple:
        return {'$tuple': [encode(v) for v in value]}
    if kind is decimal.Decimal:
        return {'$decimal': str(value)}
    if kind is fractions.Fraction:
        return {'$fraction': str(value)}
    if kind is bytes or kind is bytearray:
        return {'$bytes': base64.b64encode(value).decode('ascii')}
    if kind is datetime.datetime:
        return {'$datetime': value.isoformat()}
    if kind is datetime.date:
        return {'$date': value.isoformat()}
    if kind is datetime.time:
        return {'$time': value.isoformat()}
    if kind is datetime.timedelta:
        return {'$timedelta': [value.days, value.seconds,
                               value.microseconds]}
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    # Not storable data (validation refuses it); shown, never a crash.
    return {'$repr': repr(value)}


def _timedelta(parts):
    return datetime.timedelta(*parts)


def _fraction(text):
    return fractions.Fraction(text)


_DECODERS = {
    '$float': float,
    '$decimal': decimal.Decimal,
    '$fraction': _fraction,
    '$bytes': lambda text: base64.b64decode(text.encode('ascii'),
                                            validate=True),
    '$datetime': datetime.datetime.fromisoformat,
    '$date': datetime.date.fromisoformat,
    '$time': datetime.time.fromisoformat,
    '$timedelta': _timedelta,
    '$tuple': tuple,
    '$map': lambda pairs: {_key(k): v for k, v in pairs},
}


def _key(key):
    # A decoded key must be hashable: a list (from a tuple key written by
    # an older encoder) cannot be one.
    hash(key)
    return key


class _Literal:
    """Where the parser met ``NaN``, ``Infinity`` or ``-Infinity``: kept
    until the parse ends, so that the refusal can name where it stood."""

    __slots__ = ('name',)

    def __init__(self, name):
        self.name = name


_SPELLED = {'NaN': 'nan', 'Infinity': 'inf', '-Infinity': '-inf'}


def _object(pairs):
    if len(pairs) == 1:
        tag, value = pairs[0]
        decoder = _DECODERS.get(tag)
        if decoder is not None and not isinstance(value, _Literal):
            try:
                return decoder(value)
            except (TypeError, ValueError, ArithmeticError) as problem:
                raise ValueError('cannot read %s %r: %s'
                                 % (tag, value, problem)) from None
    return dict(pairs)


def dumps(value, **options):
    """Strict JSON text for ``value`` (``ensure_ascii`` off, NaN refused:
    ``encode`` has turned every float into a finite one)."""
    return json.dumps(encode(value), ensure_ascii=False, allow_nan=False,
                      **options)


def _path(value, path=''):
    """The path of the first ``_Literal`` in ``value`` (``data.n``,
    ``xs[2]``; ``''``: the value itself) and the literal, or None."""
    if isinstance(value, _Literal):
        return path, value
    if isinstance(value, dict):
        items = value.items()
        name = '%s.%s' if path else '%s%s'
        for key, item in items:
            found = _path(item, name % (path, key))
            if found is not None:
                return found
    elif isinstance(value, (list, tuple)):
        for number, item in enumerate(value):
            found = _path(item, '%s[%d]' % (path, number))
            if found is not None:
                return found
    return None


def _refuse_literals(value):
    """ValueError naming where ``value`` (parsed by ``loads``'s parser)
    has a NaN or Infinity literal, and what to write instead."""
    found = _path(value)
    if found is None:
        # One a tag's decoder took in (a key of a $map): said without
        # its place.
        raise ValueError('NaN and Infinity are not JSON (write '
                         '{"$float": "nan"}, "inf" or "-inf")')
    path, literal = found
    raise ValueError('%s%s is not JSON (write {"$float": "%s"})'
                     % (path + ': ' if path else '', literal.name,
                        _SPELLED[literal.name]))


def _finite_float(text):
    value = float(text)
    if math.isinf(value):
        raise ValueError('the number %s is too large for a float (at most '
                         'about 1.8e308; write {"$float": "%s"} for an '
                         'infinity)' % (text if len(text) <= 30 else
                                        text[:27] + '...',
                                        '-inf' if value < 0 else 'inf'))
    return value


class _LiteralMet(Exception):
    """A NaN or Infinity literal, met by the decoders made once (see
    ``loads``)."""


def _met_literal(name):
    raise _LiteralMet(name)


# Made once: json.loads with options makes a decoder per call, which
# cost more than the parse of a typical line of an import (the two
# below take about two thirds of the time json.loads took per line,
# checking every float as they go). A literal stops them at once: the
# text is then parsed again, to say where it stood.
_PLAIN = json.JSONDecoder(parse_constant=_met_literal,
                          parse_float=_finite_float)
_TAGGED = json.JSONDecoder(object_pairs_hook=_object,
                           parse_constant=_met_literal,
                           parse_float=_finite_float)


def loads(text):
    """Parse JSON text (a str) and decode ``$`` tags. The NaN and Infinity
    literals that Python's json module writes are refused as not JSON (a
    ValueError naming where one stood: ``data.n: NaN is not JSON (write
    {"$float": "nan"})``), and so is a number too large for a float
    (``1e400``), which would be read as an infinity that JSON has no word
    for."""
    if not isinstance(text, str):
        raise TypeError('JSON text must be a str, got %s'
                        % type(text).__name__)
    # No key can be a tag (a string starting with $, written as such or
    # escaped): the C parser's dicts, without a Python call per object
    # (about 10% faster on the lines of a typical import).
    tagged = '"$' in text or '"\\u0024' in text
    try:
        return (_TAGGED if tagged else _PLAIN).decode(text)
    except _LiteralMet:
        pass
    value = json.JSONDecoder(
        object_pairs_hook=_object if tagged else None,
        parse_constant=_Literal, parse_float=_finite_float).decode(text)
    _refuse_literals(value)
