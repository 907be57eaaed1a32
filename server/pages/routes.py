"""The register's pages over HTTP: Starlette routes, thin, over :class:`server.pages.site.Site`.

``page_routes(store_url)`` gives the routes to add to an app after its own
(``server.app.build_app``'s ``extra_routes``): they answer every GET path the
app's own routes leave, with the register's 404 page for anything else, and
read through a ledger of their own, opened on the first request, so pages
never wait for a batch being appended. ``create_app(store_url)`` is a small
app with only the pages.
"""

from __future__ import annotations

import threading

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from projections.ledger import Ledger
from server.pages.site import HTML, NotFound, Site, open_site

CACHE = {"text/html": "no-cache", "download": "public, max-age=60"}


def page_routes(store_url: str) -> list[BaseRoute]:
    """Routes serving every page and download of the register of the ledger in ``store_url``."""
    lock = threading.Lock()  # one reader of the ledger's connection at a time
    opened: list[Ledger] = []

    def serve(request: Request) -> Response:
        path = request.path_params.get("path", "")
        if path.startswith("as-of/") and path.count("/") == 1:
            return RedirectResponse(f"/{path}/", status_code=301)
        with lock:
            if not opened:
                opened.append(Ledger.open(store_url))
            ledger = opened[0]
            try:
                site, rest = open_site(ledger, path)
                rendered = site.render(rest)
            except NotFound as missing:
                return Response(Site(ledger).not_found(str(missing)), status_code=404, media_type=HTML)
        headers = {"Cache-Control": CACHE["text/html"] if rendered.filename is None else CACHE["download"]}
        if rendered.filename is not None:
            headers["Content-Disposition"] = f'attachment; filename="{rendered.filename}"'
        return Response(rendered.body, media_type=rendered.media_type, headers=headers)

    return [Route("/", serve, methods=["GET", "HEAD"]), Route("/{path:path}", serve, methods=["GET", "HEAD"])]


def create_app(store_url: str) -> Starlette:
    """An app serving only the register's pages for the ledger in ``store_url``."""
    return Starlette(routes=page_routes(store_url))
