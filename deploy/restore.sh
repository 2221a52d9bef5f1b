#!/usr/bin/env bash
# Restore a backup of deploy/backup.sh into a running AIMA compose stack, which it
# replaces: database, media and keyring. Meant for a fresh stack (`compose up -d`
# on a new host); the control worker, beat and Flower are stopped while it runs
# and everything is restarted after. deploy/README.md, "Backups".
#
#   deploy/restore.sh DATA_ARCHIVE KEYRING_FILE
#
# Queued messages are not in a backup: the beat's sweeper sends again the step of
# any job left unfinished. AIMA_PROJECT, AIMA_ENGINE: deploy/lib.sh.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

[ $# -eq 2 ] || die "usage: deploy/restore.sh DATA_ARCHIVE KEYRING_FILE"
data="$1"; keys="$2"
[ -f "$data" ] || die "no data archive at $data"
[ -f "$keys" ] || die "no keyring at $keys"
python3 -c 'import json, sys; ring = json.load(open(sys.argv[1])); ring["current"], ring["keys"]' \
    "$keys" 2>/dev/null || die "$keys is not an AIMA keyring (JSON with current and keys)"
db="$(need_cid db)"; web="$(need_cid web)"

work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
tar -C "$work" -xf "$data" database.dump files.tar \
    || die "$data is not a data archive of deploy/backup.sh"

compose stop worker beat flower >/dev/null
"$ENGINE" exec -i "$web" sh -c 'umask 077 && cat > /etc/aima/keyring.json.new \
    && mv /etc/aima/keyring.json.new /etc/aima/keyring.json' < "$keys"
"$ENGINE" exec -i "$web" sh -c 'rm -rf /var/lib/aima/media/* /var/lib/aima/models/* \
    && tar -C /var/lib/aima -xpf -' < "$work/files.tar"
"$ENGINE" exec -i "$db" pg_restore -U aima -d aima --clean --if-exists --no-owner \
    --single-transaction < "$work/database.dump"
compose restart web >/dev/null
compose start worker beat flower >/dev/null
echo "restore: $data and $keys are in project $PROJECT; web, worker, beat and Flower restarted"
