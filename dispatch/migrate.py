"""Schema migrations (Alembic), run programmatically: no alembic.ini to keep in step."""

from __future__ import annotations

import logging
from pathlib import Path

# before alembic is imported: importing it registers its plugins with an INFO line each
logging.getLogger("alembic").setLevel(logging.WARNING)

from alembic import command  # noqa: E402
from alembic.config import Config  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    logging.getLogger("alembic").setLevel(logging.WARNING)  # its INFO lines say nothing to an operator
    command.upgrade(alembic_config(engine), revision)


def revision(engine: Engine, message: str) -> None:
    """Developers: ``python -c 'from dispatch.migrate import ...'`` to autogenerate a new revision."""
    command.revision(alembic_config(engine), message=message, autogenerate=True)
