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


def _object(pairs):
    if len(pairs) == 1:
        tag, value = pairs[0]
        decoder = _DECODERS.get(tag)
        if decoder is not None:
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


def _refuse_constant(name):
    raise ValueError('%s is not JSON (write {"$float": "nan"})' % name)


def _finite_float(text):
    value = float(text)
    if math.isinf(value):
        raise ValueError('the number %s is too large for a float (at most '
                         'about 1.8e308; write {"$float": "%s"} for an '
                         'infinity)' % (text if len(text) <= 30 else
                                        text[:27] + '...',
                                        '-inf' if value < 0 else 'inf'))
    return value


# Made once: json.loads with options makes a decoder per call, which
# cost more than the parse of a typical line of an import (the two
# below take about two thirds of the time json.loads took per line,
# checking every float as they go).
_PLAIN = json.JSONDecoder(parse_constant=_refuse_constant,
                          parse_float=_finite_float)
_TAGGED = json.JSONDecoder(object_pairs_hook=_object,
                           parse_constant=_refuse_constant,
                           parse_float=_finite_float)


def loads(text):
    """Parse JSON text (a str) and decode ``$`` tags; the NaN and
    Infinity literals that Python's json module writes are refused as not
    JSON, and so is a number too large for a float (``1e400``), which
    would be read as an infinity that JSON has no word for."""
    if not isinstance(text, str):
        raise TypeError('JSON text must be a str, got %s'
                        % type(text).__name__)
    if '"$' not in text and '"\\u0024' not in text:
        # No key can be a tag (a string starting with $, written as such
        # or escaped): the C parser's dicts, without a Python call per
        # object (about 10% faster on the lines of a typical import).
        return _PLAIN.decode(text)
    return _TAGGED.decode(text)
