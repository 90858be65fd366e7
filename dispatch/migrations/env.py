from alembic import context

from dispatch.store import Base

config = context.config
engine = config.attributes["engine"]
sqlite = engine.dialect.name == "sqlite"

with engine.connect() as connection:
    if sqlite:
        # SQLite alters a table by copying it and dropping the old one ("batch" mode): with foreign keys
        # enforced, dropping a table that other rows point at fails. The pragma only works outside a
        # transaction, so it is set on the driver's connection before the migration's transaction
        # begins, and checked afterwards (foreign_key_check) before it is switched back on.
        connection.connection.dbapi_connection.execute("PRAGMA foreign_keys=OFF")
    try:
        with connection.begin():
            context.configure(
                connection=connection, target_metadata=Base.metadata, render_as_batch=True, compare_type=True
            )
            with context.begin_transaction():
                context.run_migrations()
            if sqlite:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(f"migration left rows pointing at missing ones: {broken[:5]}")
    finally:
        if sqlite:
            connection.connection.dbapi_connection.execute("PRAGMA foreign_keys=ON")
