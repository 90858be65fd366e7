"""Files CityOps ships beside its code: the pages' stylesheets, the example configuration and (in
``dispatch``) the database migrations.

In a checkout they are the top-level ``assets/`` and ``config/`` folders; ``cityops/assets`` and
``cityops/demo_config`` link to them, and a wheel build copies them into the package (package data
in pyproject.toml), so the same paths work from a checkout, an editable install and a wheel.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
ASSETS = PACKAGE / "assets"
DEMO_CONFIG = PACKAGE / "demo_config" / "demo.yaml"
#: where the packaged example keeps its data when CityOps runs from a wheel (not from a checkout)
INSTALLED_DATA_DIR = "cityops-data"


def checkout_root() -> Path | None:
    """The source checkout this code runs from, or None for an installed wheel."""
    root = PACKAGE.parent
    return root if (root / "pyproject.toml").is_file() and (root / "cityops").is_dir() else None
