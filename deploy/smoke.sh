#!/usr/bin/env bash
# deploy/smoke.sh: what CI does with the deployment, on any machine with Podman
# (and podman-compose) or Docker (with compose). It
#   1. builds the control-plane image and the CPU agent image (and, unless
#      AIMA_SMOKE_UPSTREAM=1, stand-ins for the PostgreSQL, RabbitMQ and Caddy
#      images: deploy/images/local/) FROM a base image: AIMA_SMOKE_BASE, else
#      localhost/debian-min:bookworm made with debootstrap where it is installed,
#      else docker.io/library/debian:bookworm-slim;
#   2. starts deploy/compose.yaml unchanged but for its image variables, with
#      Caddy's own CA for TLS, and waits for every health check;
#   3. creates an admin, enrols an agent container with a simulated 24 GB GPU,
#      submits a video through the TLS proxy (its certificate verified against
#      Caddy's CA, no -k) and waits for the job and its report;
#   4. prints the control plane's resident memory (agent excluded), at most 2 GB;
#   5. backs up (deploy/backup.sh), runs `compose down` and `up` again and finds
#      the job, its report and its media; restores the backup into a fresh stack
#      (deploy/restore.sh) and finds them there too, the media decrypted intact;
#   6. takes both stacks down with their volumes and ends with one line:
#      "smoke: PASSED ..." (exit 0) or "smoke: FAILED ..." (exit 1).
# Images stay, so a second run reuses their layers. Ports: AIMA_SMOKE_HTTPS_PORT
# (18443), AIMA_SMOKE_AMQP_PORT (15699) on 127.0.0.1.
set -euo pipefail
export AIMA_PROJECT="${AIMA_PROJECT:-aima-smoke}"
WORK="$(mktemp -d)"
export AIMA_ENV_FILE="$WORK/smoke.env"
source "$(dirname "$0")/lib.sh"
FIRST="$PROJECT"
RESTORED=aima-smoke-restored
DOMAIN=aima.smoke.test
PORT="${AIMA_SMOKE_HTTPS_PORT:-18443}"
TAG=smoke
AGENT=""
STEP="starting"
started=$SECONDS

say() { printf '[smoke %4ss] %s\n' "$((SECONDS - started))" "$*"; }
step() { STEP="$*"; say "$*"; }

finish() {
    local status=$?
    trap - EXIT
    if [ "$status" -ne 0 ]; then
        say "failed while: $STEP; the last lines of each container:"
        for p in "$FIRST" "$RESTORED"; do
            for c in $("$ENGINE" ps -aq --filter "label=com.docker.compose.project=$p"); do
                echo "--- $("$ENGINE" inspect -f '{{.Name}}' "$c")"
                "$ENGINE" logs --tail 15 "$c" 2>&1 | sed 's/^/    /'
            done
        done
        [ -z "$AGENT" ] || "$ENGINE" logs --tail 30 "$AGENT" 2>&1 | sed 's/^/    agent: /'
    fi
    [ -z "$AGENT" ] || "$ENGINE" rm -f "$AGENT" >/dev/null 2>&1 || true
    for p in "$FIRST" "$RESTORED"; do
        AIMA_PROJECT=$p PROJECT=$p compose down -v >/dev/null 2>&1 || true
    done
    rm -rf "$WORK"
    if [ "$status" -eq 0 ]; then
        echo "smoke: PASSED: the job succeeded through TLS, kept its report and media" \
             "over down/up and a restore into a fresh stack (${SECONDS}s)"
    else
        echo "smoke: FAILED while: $STEP (${SECONDS}s)"
    fi
    exit "$status"
}
trap finish EXIT

# --- 1. images ---------------------------------------------------------------
base="${AIMA_SMOKE_BASE:-}"
if [ -z "$base" ]; then
    if "$ENGINE" image exists localhost/debian-min:bookworm 2>/dev/null \
        || "$ENGINE" image inspect localhost/debian-min:bookworm >/dev/null 2>&1; then
        base=localhost/debian-min:bookworm
    elif command -v debootstrap >/dev/null && [ "$(id -u)" = 0 ]; then
        step "making the base image localhost/debian-min:bookworm with debootstrap"
        debootstrap --variant=minbase bookworm "$WORK/rootfs" >/dev/null
        tar -C "$WORK/rootfs" -c . | "$ENGINE" import - localhost/debian-min:bookworm >/dev/null
        rm -rf "$WORK/rootfs"
        base=localhost/debian-min:bookworm
    else
        base=docker.io/library/debian:bookworm-slim
    fi
fi
build_args=(--build-arg "BASE=$base")
volumes=()
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
    # Where PyPI is reached through this machine's own CA: mounted for the build only.
    build_args+=(--build-arg HOST_CA=/host-ca.crt)
    volumes=(-v /etc/ssl/certs/ca-certificates.crt:/host-ca.crt:ro)
fi
build() {  # build NAME CONTAINERFILE [ARGS…]: quiet, its log shown if it fails
    local name="$1" file="$2"; shift 2
    if ! "$ENGINE" build "${volumes[@]}" "${build_args[@]}" "$@" -f "$file" \
            -t "localhost/$name:$TAG" "$REPO" > "$WORK/build-$name.log" 2>&1; then
        tail -30 "$WORK/build-$name.log" >&2
        return 1
    fi
}
step "building the images FROM $base"
pids=()
build aima-control "$DEPLOY/images/control.Containerfile" & pids+=($!)
build aima-agent "$DEPLOY/images/agent.Containerfile" --build-arg VARIANT=cpu & pids+=($!)
if [ "${AIMA_SMOKE_UPSTREAM:-0}" != 1 ]; then
    for s in postgres rabbitmq caddy; do
        build "aima-$s" "$DEPLOY/images/local/$s.Containerfile" & pids+=($!)
    done
    export AIMA_POSTGRES_IMAGE=localhost/aima-postgres:$TAG
    export AIMA_RABBITMQ_IMAGE=localhost/aima-rabbitmq:$TAG
    export AIMA_CADDY_IMAGE=localhost/aima-caddy:$TAG
fi
for pid in "${pids[@]}"; do wait "$pid"; done
export AIMA_CONTROL_IMAGE=localhost/aima-control:$TAG
say "images built"

# --- 2. the stack ------------------------------------------------------------
secret() { python3 -c 'import secrets; print(secrets.token_hex(24))'; }
cat > "$AIMA_ENV_FILE" <<ENV
AIMA_DOMAIN=$DOMAIN
AIMA_TLS=internal
AIMA_SECRET_KEY=$(secret)$(secret)
AIMA_DB_PASSWORD=$(secret)
AIMA_BROKER_PASSWORD=$(secret)
AIMA_LOCAL_AGENT_BROKER_PASSWORD=$(secret)
AIMA_REQUIRE_MFA=0
AIMA_HTTP_PORT=18080
AIMA_HTTPS_PORT=$PORT
AIMA_AMQP_PORT=${AIMA_SMOKE_AMQP_PORT:-15699}
ENV
chmod 600 "$AIMA_ENV_FILE"
agent_broker_password="$(sed -n 's/^AIMA_LOCAL_AGENT_BROKER_PASSWORD=//p' "$AIMA_ENV_FILE")"

wait_healthy() {  # wait_healthy SERVICE…: each one's own health check passes
    local service id deadline=$((SECONDS + 300))
    for service in "$@"; do
        while true; do
            id="$(cid "$service")"
            if [ -n "$id" ]; then
                if [ "$ENGINE" = podman ]; then
                    # Podman runs health checks from systemd timers; without systemd
                    # they are run here, which is what the timer would do.
                    podman healthcheck run "$id" >/dev/null 2>&1 && break
                else
                    [ "$(docker inspect -f '{{.State.Health.Status}}' "$id")" = healthy ] && break
                fi
            fi
            [ "$SECONDS" -lt "$deadline" ] || die "$service is not healthy after 300 s"
            sleep 2
        done
    done
}

https() {  # https PATH [CURL ARGS…]: through the proxy, its certificate verified
    local path="$1"; shift
    curl -sS --fail-with-body --cacert "$WORK/ca.crt" --resolve "$DOMAIN:$PORT:127.0.0.1" \
        "$@" "https://$DOMAIN:$PORT$path"
}

up() {  # up PROJECT: start it and wait until it serves through TLS
    step "starting project $1"
    AIMA_PROJECT=$1 PROJECT=$1 stack_up >"$WORK/up-$1.log" 2>&1 \
        || { tail -20 "$WORK/up-$1.log" >&2; return 1; }
    PROJECT=$1 wait_healthy db rabbitmq web worker flower
    local proxy deadline=$((SECONDS + 120))
    proxy="$(PROJECT=$1 need_cid proxy)"
    until "$ENGINE" cp "$proxy:/data/caddy/pki/authorities/local/root.crt" "$WORK/ca.crt" \
            2>/dev/null && chmod 644 "$WORK/ca.crt" && https /healthz >/dev/null 2>&1; do
        [ "$SECONDS" -lt "$deadline" ] || die "the proxy does not serve https://$DOMAIN:$PORT"
        sleep 2
    done
    say "project $1 is healthy and serves https://$DOMAIN:$PORT with a verified certificate"
}

json() { python3 -c "import json, sys; print(json.load(sys.stdin)$1)"; }

up "$PROJECT"

# --- 3. an admin, an agent, a job through TLS --------------------------------
step "creating an admin and enrolling the agent"
web="$(need_cid web)"
read -r _password token < <("$ENGINE" exec "$web" python manage.py aima_admin smoke-admin)
auth=(-H "Authorization: Token $token")
enrolment="$("$ENGINE" exec "$web" python manage.py aima_enroll --label smoke)"
network="$("$ENGINE" inspect -f '{{range $name, $_ := .NetworkSettings.Networks}}{{$name}} {{end}}' \
    "$web" | awk '{print $1}')"
AGENT="$PROJECT-agent"
# What an operator runs on a GPU host (deploy/README.md, "A GPU host"), but for a
# simulated GPU: the control plane over HTTPS by its name, Caddy's CA to check it
# by, and the local agents' broker user, which may only read gpu.local.*.
"$ENGINE" run -d --name "$AGENT" --network "$network" \
    -e AIMA_CONTROL_PLANE_URL="https://$DOMAIN" -e AIMA_AGENT_TOKEN="$enrolment" \
    -e AIMA_BROKER_URL="amqp://aima-local-agent:$agent_broker_password@rabbitmq:5672/aima" \
    -e AIMA_CA_BUNDLE=/etc/aima-ca.crt -v "$WORK/ca.crt:/etc/aima-ca.crt:ro" \
    "localhost/aima-agent:$TAG" python -m agents run --simulate-gpu smoke-gpu:24 \
    --name smoke-host >/dev/null

step "waiting for the agent's GPU"
deadline=$((SECONDS + 180))
until https /api/v1/gpus/ "${auth[@]}" | python3 -c 'import json, sys
sys.exit(not any(g["agent"] and g["agent"]["online"] for g in json.load(sys.stdin)["results"]))'; do
    [ "$SECONDS" -lt "$deadline" ] || die "the agent's GPU is not online after 180 s"
    sleep 2
done
say "the agent's simulated GPU is online"

step "submitting a video through the TLS proxy"
"$ENGINE" run --rm --entrypoint sh "localhost/aima-agent:$TAG" -c \
    'python -c "from pathlib import Path; from agents.samples import write_video;
write_video(Path(\"/tmp/sample.mp4\"))" && cat /tmp/sample.mp4' > "$WORK/sample.mp4"
job="$(https /api/v1/jobs/ "${auth[@]}" -F media=@"$WORK/sample.mp4" \
    -F confidentiality=confidential -F analyses=shots -F analyses=loudness | json '["id"]')"
say "job $job submitted ($(du -h "$WORK/sample.mp4" | cut -f1) video, confidential: local GPU only)"

deadline=$((SECONDS + 300))
while true; do
    state="$(https "/api/v1/jobs/$job/" "${auth[@]}" | json '["state"]')"
    case "$state" in
        succeeded) break ;;
        failed|cancelled) die "job $job $state: $(https "/api/v1/jobs/$job/" "${auth[@]}")" ;;
    esac
    [ "$SECONDS" -lt "$deadline" ] || die "job $job still $state after 300 s"
    sleep 2
done
check_job() {  # check_job WHERE: the job, its report and its media are all there
    local state analyses
    state="$(https "/api/v1/jobs/$job/" "${auth[@]}" | json '["state"]')"
    analyses="$(https "/api/v1/jobs/$job/report/" "${auth[@]}" \
        | json '["analyses"]' | python3 -c 'import sys; print(sys.stdin.read().count("shots"))')"
    https "/api/v1/jobs/$job/media/" "${auth[@]}" -o "$WORK/downloaded.mp4"
    [ "$state" = succeeded ] || die "$1: job $job is $state"
    [ "$analyses" -gt 0 ] || die "$1: the report of job $job has no shots analysis"
    cmp -s "$WORK/sample.mp4" "$WORK/downloaded.mp4" \
        || die "$1: the media downloaded is not the video submitted"
    say "$1: job $job succeeded, its report has its analyses, its media downloads intact"
}
check_job "after the job"

# --- 4. memory -------------------------------------------------------------------
step "measuring the control plane's resident memory"
total=0
line=""
for service in db rabbitmq web worker beat flower proxy; do
    pid="$("$ENGINE" inspect -f '{{.State.Pid}}' "$(need_cid "$service")")"
    # The container's process and all its descendants (gunicorn's and Celery's
    # workers), summed as RSS: shared pages count once per process, so this is
    # an upper bound.
    kib="$(ps -e -o pid=,ppid=,rss= | awk -v root="$pid" '
        { parent[$1] = $2; rss[$1] = $3 }
        END { for (p in parent) { q = p; while (q != "" && q != root && q > 1) q = parent[q];
              if (q == root) sum += rss[p] } print sum + 0 }')"
    total=$((total + kib))
    line+=" $service $((kib / 1024))"
done
echo "control-plane resident memory after the job: $((total / 1024)) MiB in all (MiB:$line)"
[ "$total" -lt $((2048 * 1024)) ] || die "the control plane uses $((total / 1024)) MiB, over 2 GB"

# --- 5. backup, down/up, restore into a fresh stack --------------------------------
step "backing up"
"$DEPLOY/backup.sh" "$WORK/backup-data" "$WORK/backup-keys"
"$ENGINE" rm -f "$AGENT" >/dev/null; AGENT=""

step "compose down and up again (volumes kept)"
compose down >/dev/null 2>&1
up "$PROJECT"
check_job "after down and up"
compose down -v >/dev/null 2>&1

step "restoring the backup into a fresh stack"
PROJECT=$RESTORED
export AIMA_PROJECT=$RESTORED
up "$PROJECT"
"$DEPLOY/restore.sh" "$WORK"/backup-data/*.data.tar "$WORK"/backup-keys/*.keyring.json
PROJECT=$RESTORED wait_healthy web worker
check_job "after the restore into a fresh stack"
