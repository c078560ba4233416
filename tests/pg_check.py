"""`alembic check` against a throwaway PostgreSQL database (used by `make lint`).

Skipped with a one-line reason when no PostgreSQL answers, except in CI, where it fails.
"""

import os
import subprocess
import sys
import uuid

import psycopg
from sqlalchemy.engine import make_url

ADMIN = os.environ.get(
    "TRACKER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def main(alembic: str) -> int:
    admin_url = make_url(ADMIN)
    libpq = admin_url.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"pt_check_{uuid.uuid4().hex[:8]}"
    try:
        admin = psycopg.connect(libpq, autocommit=True, connect_timeout=3)
    except psycopg.Error as exc:
        if os.environ.get("CI", "").lower() == "true":
            print(f"alembic check on PostgreSQL: cannot connect: {exc}", file=sys.stderr)
            return 1
        print("alembic check on PostgreSQL skipped: no server reachable", file=sys.stderr)
        return 0
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        env = {
            **os.environ,
            "TRACKER_DATABASE_URL": admin_url.set(database=name).render_as_string(
                hide_password=False
            ),
        }
        try:
            for args in (["upgrade", "head"], ["check"]):
                done = subprocess.run([alembic, *args], env=env, check=False)
                if done.returncode:
                    return done.returncode
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print("alembic check on PostgreSQL: no drift", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
