"""The public register in a browser (SPEC 14): pages rendered from the projections' views.

``site.Site`` renders every page and download of one ledger, read at its head
or as of an entry, by path; ``routes`` serves them with Starlette and
``static.write_site`` writes them as files, so the server and a static host
give the same HTML.
"""
