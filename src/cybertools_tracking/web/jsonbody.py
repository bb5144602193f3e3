"""Track data over HTTP as the command line reads and writes it.

One rule for both front ends, ``jsoncodec``: a request body is read
as ``import`` reads a line (``{"$float": "inf"}``, ``{"$decimal":
"1.10"}`` ... are decoded; the ``NaN`` and ``Infinity`` literals, which
are not JSON, are a 400 naming the field: ``data.n: NaN is not JSON
(write {"$float": "nan"})``), and a track's data is answered as
``query`` and ``export`` write it (an infinity is ``{"$float": "inf"}``,
never ``null``). A number too big for a float (``1e400``) is an
infinity, as ``import`` reads it.

``CodecRoute`` is the route class of the routers whose bodies carry
track data; ``data_json(data)`` encodes data for an answer.
"""

import json

from fastapi import HTTPException, Request
from fastapi.routing import APIRoute

from cybertools_tracking.jsoncodec import encode, loads

__all__ = ['CodecRoute', 'data_json']


def data_json(data):
    """A track's ``data`` as plain JSON values (``jsoncodec.encode``): a
    dict, with ``$map`` for keys that are not plain strings."""
    return encode(data)


class _CodecRequest(Request):
    """A request whose JSON body is read by ``jsoncodec.loads``."""

    async def json(self):
        if not hasattr(self, '_json'):
            body = await self.body()
            try:
                text = body.decode(json.detect_encoding(body),
                                   'surrogatepass')
                self._json = loads(text)
            except json.JSONDecodeError:
                raise       # FastAPI's 422 of a body that is not JSON
            except ValueError as error:
                # A NaN literal, an undecodable tag, a body not in UTF-8.
                raise HTTPException(400, str(error)) from None
        return self._json


class CodecRoute(APIRoute):
    """A route whose request body is read as ``import`` reads a line."""

    def get_route_handler(self):
        handler = super().get_route_handler()

        async def codec_handler(request):
            return await handler(_CodecRequest(request.scope,
                                               request.receive))
        return codec_handler
