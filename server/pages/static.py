"""The register as static files: the same pages as the server, for any static host.

``write_site`` starts from the register's index and follows every link the
pages make (pages, downloads, the stylesheet, and the permanent links to the
same pages as of the last entry), so the site holds exactly what its pages
link to. Files are written to a temporary name and renamed into place.
"""

from __future__ import annotations

import os
from pathlib import Path

from projections.ledger import Ledger
from server.pages.site import Site, open_site


def write_site(ledger: Ledger, directory: str | Path) -> int:
    """Write every page and download of the register of ``ledger`` under ``directory``; returns
    how many files were written."""
    root = Path(directory)
    pending, seen = ["index.html"], {"index.html"}
    sites: dict[int | None, Site] = {}
    written = 0
    while pending:
        path = pending.pop()
        site, rest = open_site(ledger, path)
        site = sites.setdefault(site.as_of, site)  # one reading per as-of: its links are gathered in one place
        before = set(site.linked)
        rendered = site.render(rest)
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(target.name + ".tmp")
        temporary.write_bytes(rendered.body)
        os.replace(temporary, target)
        written += 1
        for link in site.linked - before:
            if link not in seen:
                seen.add(link)
                pending.append(link)
    return written
