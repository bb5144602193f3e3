"""Bearer tokens: who may write (and, unless reads are open, read).

Tokens come from a file (one per line; blank lines and lines starting
with ``#`` are skipped) or from the environment variable
``CYBERTOOLS_TRACKING_TOKENS`` (separated by commas or white space). A
presented token is compared with every configured one in constant time
(``hmac.compare_digest``, and no early exit), so the time an answer takes
tells nothing about how much of a token was right.

No token configured means no writes: a writing request is refused with
403 and a message saying how to configure one, never let through.
"""

import hmac
import os
import re

__all__ = ['Tokens', 'load_tokens', 'TOKENS_ENV', 'NO_TOKENS',
           'NO_TOKENS_TO_READ']

TOKENS_ENV = 'CYBERTOOLS_TRACKING_TOKENS'
NO_TOKENS = ('writes are disabled: no token is configured; start the server '
             'with --token-file FILE or set $%s (create_app(tokens=...) '
             'in code), then send "Authorization: Bearer TOKEN"' % TOKENS_ENV)
NO_TOKENS_TO_READ = ('reads need a token and none is configured: open reads '
                     'with --open-reads (create_app(open_reads=True)), or '
                     'configure a token with --token-file FILE or $%s'
                     % TOKENS_ENV)


class Tokens:
    """The accepted tokens; ``accepts(token)`` in constant time."""

    def __init__(self, tokens=()):
        if isinstance(tokens, str):
            raise TypeError('tokens must be a list of strings, not one '
                            'string, got %r' % (tokens[:8] + '...',))
        tokens = list(tokens)
        for token in tokens:
            if not isinstance(token, str) or not token.strip():
                raise ValueError('a token must be a non-empty string, got %r'
                                 % (token,))
        self._tokens = [token.encode('utf-8') for token in tokens]

    def __bool__(self):
        return bool(self._tokens)

    def __len__(self):
        return len(self._tokens)

    def __repr__(self):
        return '<Tokens (%d)>' % len(self._tokens)

    def accepts(self, presented):
        if not isinstance(presented, str):
            return False
        presented = presented.encode('utf-8', 'surrogateescape')
        accepted = False
        for token in self._tokens:
            accepted |= hmac.compare_digest(token, presented)
        return accepted


def load_tokens(token_file=None, environ=None):
    """The tokens of ``token_file`` if given, else of the environment
    variable ``CYBERTOOLS_TRACKING_TOKENS``; possibly none."""
    if token_file is not None:
        with open(token_file, encoding='utf-8') as stream:
            lines = [line.strip() for line in stream]
        return Tokens([line for line in lines
                       if line and not line.startswith('#')])
    environ = os.environ if environ is None else environ
    return Tokens(re.split(r'[\s,]+', environ.get(TOKENS_ENV, '').strip())
                  if environ.get(TOKENS_ENV, '').strip() else [])
