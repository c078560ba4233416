"""Rate limits on writes (per key) and on failed authentication (per client address).

Fixed one-minute windows. On PostgreSQL the counters live in a table, so every API process
behind a load balancer sees the same counts; on SQLite (one host) each process counts alone.
"""

import math
import threading
import time
from datetime import UTC, datetime

from sqlalchemy import Engine, delete, literal_column
from sqlalchemy.dialects.postgresql import insert as pg_insert

from api.errors import TooManyRequests
from api.ratelimit.tables import RateLimitWindow

WINDOW_SECONDS = 60
table = RateLimitWindow.__table__  # type: ignore[attr-defined]


class RateLimiter:
    """Counts hits per bucket in the current window; ``hit`` says the count so far."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.shared = engine.dialect.name == "postgresql"
        self._lock = threading.Lock()
        self._local: dict[str, tuple[int, int]] = {}

    @staticmethod
    def _window(now: float) -> int:
        return int(now // WINDOW_SECONDS) * WINDOW_SECONDS

    def hit(self, bucket: str, now: float | None = None) -> int:
        window = self._window(now if now is not None else time.time())
        if self.shared:
            return self._hit_shared(bucket, window)
        with self._lock:
            start, hits = self._local.get(bucket, (window, 0))
            hits = hits + 1 if start == window else 1
            self._local[bucket] = (window, hits)
            if len(self._local) > 100_000:
                self._local = {k: v for k, v in self._local.items() if v[0] == window}
            return hits

    def count(self, bucket: str, now: float | None = None) -> int:
        window = self._window(now if now is not None else time.time())
        if self.shared:
            with self.engine.connect() as conn:
                row = conn.execute(table.select().where(table.c.bucket == bucket)).first()
            if row is None or int(row.window_start.timestamp()) != window:
                return 0
            return int(row.hits)
        with self._lock:
            start, hits = self._local.get(bucket, (window, 0))
            return hits if start == window else 0

    def _hit_shared(self, bucket: str, window: int) -> int:
        start = datetime.fromtimestamp(window, UTC)
        insert_row = pg_insert(table).values(bucket=bucket, window_start=start, hits=1)
        stmt = insert_row.on_conflict_do_update(
            index_elements=[table.c.bucket],
            set_={
                "hits": literal_column(
                    "CASE WHEN rate_limit_window.window_start = excluded.window_start "
                    "THEN rate_limit_window.hits + 1 ELSE 1 END"
                ),
                "window_start": insert_row.excluded.window_start,
            },
        ).returning(table.c.hits)
        with self.engine.begin() as conn:
            hits = int(conn.execute(stmt).scalar_one())
            if hits == 1 and window % (10 * WINDOW_SECONDS) == 0:
                conn.execute(delete(table).where(table.c.window_start < start))
        return hits

    @staticmethod
    def retry_after(now: float | None = None) -> int:
        now = now if now is not None else time.time()
        return max(1, math.ceil(WINDOW_SECONDS - now % WINDOW_SECONDS))

    def check(self, bucket: str, limit: int, what: str) -> None:
        """Count one hit; 429 with Retry-After once the window's limit is passed."""
        if limit <= 0:
            return
        if self.hit(bucket) > limit:
            raise TooManyRequests(
                f"too many {what}; the limit is {limit} a minute",
                headers={"Retry-After": str(self.retry_after())},
            )

    def refuse_if_over(self, bucket: str, limit: int, what: str) -> None:
        """429 when the window's limit is already passed, without counting a hit."""
        if limit > 0 and self.count(bucket) >= limit:
            raise TooManyRequests(
                f"too many {what}; wait before trying again",
                headers={"Retry-After": str(self.retry_after())},
            )
