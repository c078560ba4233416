"""One settings object, read from the environment (prefix ``TRACKER_``) and ``.env``."""

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TRACKER_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default=f"sqlite:///{Path('data') / 'policy-tracker.db'}",
        description="SQLAlchemy URL: sqlite:///path or postgresql+psycopg://user@host/db",
    )
    cors_origins: list[str] = Field(
        default_factory=lambda: ["http://localhost:3000", "http://127.0.0.1:3000"],
        description="Origins allowed to call the API from a browser ('*' for any).",
    )
    anonymous_reads: bool = Field(default=True, description="Let readers without a key read.")
    max_body_bytes: int = 1024 * 1024
    import_max_bytes: int = Field(default=1024**3, description="Largest NDJSON import body.")
    db_pool_size: int = 10
    query_cache_mb: float = Field(
        default=32,
        ge=0,
        description="Memory per process for pages, totals, facets and search results, kept "
        "until the next write (0: off).",
    )
    sqlite_busy_timeout_ms: int = 5000
    sqlite_cache_mb: int = Field(
        default=16, ge=1, description="SQLite page cache per pooled connection."
    )
    sqlite_mmap_mb: int = Field(
        default=0,
        ge=0,
        description="Memory-map this much of a SQLite file (0: off; mapped pages count in RSS).",
    )
    log_level: str = "INFO"
    log_format: str = Field(default="auto", description="json, text or auto (text on a terminal)")
    seed_on_start: bool = True
    write_rate_limit: int = Field(default=120, description="Writes per minute per key (0: off).")
    auth_failure_limit: int = Field(
        default=30, description="Failed authentications per minute per client address (0: off)."
    )

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    return Settings()
