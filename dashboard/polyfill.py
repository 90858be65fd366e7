"""The pages' polyfill: the regenerator runtime alone, in place of Dash's @babel/polyfill.

Dash puts ``@babel/polyfill`` 7 (core-js 2 and the regenerator runtime) first on every page: ~90 KB
that takes ~160 ms to run on a 2-core PC without a GPU before any other script, on every page load.
The browsers that run Dash's React 18 have natively what core-js 2 adds; what Dash's components
still use is the global ``regeneratorRuntime`` (dcc's async loaders call it). So the pages load just
that (regenerator-runtime 0.13.11, MIT, ``assets/vendor/regenerator-runtime.js``) where the polyfill
was, before Dash's own scripts.
"""

from __future__ import annotations

import re

from dash import Dash

#: Dash's polyfill script tag (its path is fingerprinted: deps/polyfill@7.v4_4_1m....12.1.min.js)
POLYFILL_TAG = re.compile(r'<script src="[^"]*/_dash-component-suites/dash/deps/polyfill@7[^"]*"></script>')


def swap(scripts: str, runtime_url: str) -> str:
    """``scripts`` (a page's script tags) with the polyfill's tag replaced by the runtime's; unchanged
    when there is no polyfill tag (a Dash that no longer ships it)."""
    return POLYFILL_TAG.sub(lambda _: f'<script src="{runtime_url}"></script>', scripts, count=1)


def install(app: Dash) -> None:
    """Load the runtime instead of the polyfill on every page of ``app``."""
    interpolate = app.interpolate_index
    url = app.get_asset_url("vendor/regenerator-runtime.js")

    def interpolate_index(**kwargs) -> str:
        kwargs["scripts"] = swap(kwargs.get("scripts", ""), url)
        return interpolate(**kwargs)

    app.interpolate_index = interpolate_index
