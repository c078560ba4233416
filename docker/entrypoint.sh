#!/bin/sh
# Container start-up. `serve` (the default command): migrate the database to the head revision
# (TRACKER_MIGRATE_ON_START, retried while the database is not up yet), seed it if it is empty
# (TRACKER_SEED_ON_START), then replace this shell with the server, so SIGTERM reaches uvicorn
# and in-flight requests finish. Any other command runs as given: `policy-tracker keys create ...`.
set -eu

is_true() {
    case "$1" in
        1 | [Tt][Rr][Uu][Ee] | [Yy][Ee][Ss] | [Oo][Nn]) return 0 ;;
        *) return 1 ;;
    esac
}

if [ "$#" -gt 0 ] && [ "$1" != "serve" ]; then
    exec "$@"
fi
if [ "$#" -gt 0 ]; then shift; fi

if is_true "${TRACKER_MIGRATE_ON_START:-true}"; then
    attempt=1
    until policy-tracker migrate; do
        if [ "$attempt" -ge "${TRACKER_MIGRATE_ATTEMPTS:-10}" ]; then
            echo "entrypoint: migration failed $attempt times; giving up" >&2
            exit 1
        fi
        echo "entrypoint: migration failed (attempt $attempt); retrying in 3 s" >&2
        attempt=$((attempt + 1))
        sleep 3
    done
fi

if is_true "${TRACKER_SEED_ON_START:-true}"; then
    policy-tracker seed --if-empty
fi

exec policy-tracker serve \
    --host "${TRACKER_HOST:-0.0.0.0}" \
    --port "${TRACKER_PORT:-8000}" \
    --workers "${TRACKER_WORKERS:-2}" \
    "$@"
