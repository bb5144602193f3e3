"""The HTTP API and the dashboard (the ``web`` extra: FastAPI, uvicorn).

``create_app(uri_or_db)`` makes the FastAPI application;
``cybertools-tracking serve`` runs it with uvicorn. See doctests/web.txt.
"""

from cybertools_tracking.web.app import create_app
from cybertools_tracking.web.auth import TOKENS_ENV, Tokens, load_tokens

__all__ = ['create_app', 'Tokens', 'load_tokens', 'TOKENS_ENV']
