# Sourced by deploy/smoke.sh, backup.sh and restore.sh: which container engine and
# compose command run the stack, and how to name its containers and volumes.
#
#   AIMA_ENGINE     podman or docker (default: podman where installed, else docker)
#   AIMA_PROJECT    the compose project (default aima: compose.yaml's own name)
#   AIMA_ENV_FILE   the settings (default deploy/.env)
#   PODMAN_RUNTIME  an OCI runtime for podman other than its default (e.g. runc)
DEPLOY="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$DEPLOY")"
ENGINE="${AIMA_ENGINE:-$(command -v podman >/dev/null && echo podman || echo docker)}"
PROJECT="${AIMA_PROJECT:-aima}"
ENV_FILE="${AIMA_ENV_FILE:-$DEPLOY/.env}"

die() { echo "$(basename "$0"): $*" >&2; exit 1; }

case "$ENGINE" in
    podman)
        if [ -n "${PODMAN_RUNTIME:-}" ]; then
            # podman-compose runs "podman" from PATH: a wrapper passes the runtime on.
            _wrap="$(mktemp -d)"
            printf '#!/bin/sh\nexec %s --runtime %s "$@"\n' "$(command -v podman)" \
                "$PODMAN_RUNTIME" > "$_wrap/podman"
            chmod 755 "$_wrap/podman"
            PATH="$_wrap:$PATH"
        fi
        _pc="$(command -v podman-compose || true)"
        [ -n "$_pc" ] || [ ! -x "$REPO/.venv/bin/podman-compose" ] || _pc="$REPO/.venv/bin/podman-compose"
        [ -n "$_pc" ] || die "podman-compose is not installed: pip install podman-compose"
        COMPOSE=("$_pc")
        ;;
    docker) COMPOSE=(docker compose) ;;
    *) die "AIMA_ENGINE must be podman or docker, not $ENGINE" ;;
esac

compose() {
    "${COMPOSE[@]}" -p "$PROJECT" -f "$DEPLOY/compose.yaml" --env-file "$ENV_FILE" "$@"
}

# The running container of a compose service (empty when there is none).
cid() {
    "$ENGINE" ps -q --filter "label=com.docker.compose.project=$PROJECT" \
        --filter "label=com.docker.compose.service=$1" | head -1
}

need_cid() {
    local id
    id="$(cid "$1")"
    [ -n "$id" ] || die "no running $1 container in project $PROJECT: start the stack first"
    echo "$id"
}

volume() { echo "${PROJECT}_$1"; }

# Start the stack in the order its depends_on gives. Docker's compose does that
# itself. podman-compose ties each container to those it depends on (podman's
# --requires), which Podman before 4.6 cannot start once the setup service has
# exited: there it is started in the two steps the order amounts to.
stack_up() {
    if [ "$ENGINE" = docker ]; then
        compose up -d
        return
    fi
    compose up -d --no-deps db rabbitmq setup
    local code
    code="$("$ENGINE" wait "${PROJECT}_setup_1")"
    [ "$code" = 0 ] || die "the setup service failed (exit $code): $ENGINE logs ${PROJECT}_setup_1"
    compose up -d --no-deps web worker beat flower proxy
}
