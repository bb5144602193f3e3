"""Who may call: the dependencies that check bearer tokens.

``reader`` lets a request through when reads are open or it carries a
token that ``Tokens.accepts``; ``writer`` always wants a token, and with
none configured refuses every write (403, saying how to configure one).
A browser's EventSource cannot send headers: GET requests may give the
token as ``?access_token=`` instead.

Both are ``async``: they only compare strings, and FastAPI runs a plain
``def`` dependency in a worker thread, a thread switch per request that
cost about a tenth of the server's time under load (benchmarks/RESULTS.md,
"issue 10, throughput").
"""

from typing import Optional

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from cybertools_tracking.web.auth import NO_TOKENS, NO_TOKENS_TO_READ

__all__ = ['reader', 'writer']

_bearer = HTTPBearer(auto_error=False, description='a token of the server '
                     '(--token-file or $CYBERTOOLS_TRACKING_TOKENS)')


def _presented(request, credentials):
    if credentials is not None:
        return credentials.credentials
    if request.method == 'GET':
        return request.query_params.get('access_token')
    return None


def _check(request, credentials):
    token = _presented(request, credentials)
    if token is None:
        raise HTTPException(401, 'a bearer token is needed: send '
                            '"Authorization: Bearer TOKEN"',
                            headers={'WWW-Authenticate': 'Bearer'})
    if not request.app.state.tokens.accepts(token):
        raise HTTPException(403, 'the token is not one of this server\'s',
                            headers={'WWW-Authenticate': 'Bearer'})


async def reader(request: Request, credentials: Optional[
        HTTPAuthorizationCredentials] = Depends(_bearer)):
    if request.app.state.open_reads:
        return
    if not request.app.state.tokens:
        raise HTTPException(403, NO_TOKENS_TO_READ)
    _check(request, credentials)


async def writer(request: Request, credentials: Optional[
        HTTPAuthorizationCredentials] = Depends(_bearer)):
    if not request.app.state.tokens:
        raise HTTPException(403, NO_TOKENS)
    _check(request, credentials)
