"""Autogenerate an Alembic revision from the models: ``python tools/new_migration.py "msg"``.

Compares the models with a scratch SQLite database migrated to head.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from alembic import command

from gateway.db import alembic_config, create_engine_for, migrate


def main() -> None:
    message = sys.argv[1] if len(sys.argv) > 1 else "schema change"
    with tempfile.TemporaryDirectory() as tmp:
        engine = create_engine_for(f"sqlite:///{Path(tmp) / 'scratch.db'}")
        migrate(engine)
        config = alembic_config()
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.revision(config, message=message, autogenerate=True)


if __name__ == "__main__":
    main()
