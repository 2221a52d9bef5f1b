#!/usr/bin/env bash
# Back up a running AIMA compose stack: the database and the media (both as they
# are stored: media sealed) into DATA_DIR, and the keyring that opens them into
# KEYS_DIR, which must be another place (another disk, a password manager, a
# vault): whoever holds both holds every analysed file. deploy/README.md, "Backups".
#
#   deploy/backup.sh DATA_DIR KEYS_DIR
#
# Prints the two files it wrote. AIMA_PROJECT, AIMA_ENGINE: deploy/lib.sh.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

[ $# -eq 2 ] || die "usage: deploy/backup.sh DATA_DIR KEYS_DIR"
data_dir="$1"; keys_dir="$2"
mkdir -p "$data_dir" "$keys_dir"
[ "$(cd "$data_dir" && pwd -P)" != "$(cd "$keys_dir" && pwd -P)" ] \
    || die "DATA_DIR and KEYS_DIR must differ: the keys are kept apart from the data"
db="$(need_cid db)"; web="$(need_cid web)"

stamp="$(date -u +%Y%m%dT%H%M%SZ)"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
umask 077
# The database first: every file it names is then in the media copied after it
# (media are only ever added while it runs; a later extra is harmless).
"$ENGINE" exec "$db" pg_dump -U aima -d aima --format=custom > "$work/database.dump"
"$ENGINE" exec "$web" tar -C /var/lib/aima -c media models > "$work/files.tar"
data="$data_dir/aima-$stamp.data.tar"
keys="$keys_dir/aima-$stamp.keyring.json"
tar -C "$work" -cf "$data.part" database.dump files.tar && mv "$data.part" "$data"
"$ENGINE" exec "$web" cat /etc/aima/keyring.json > "$keys.part" && mv "$keys.part" "$keys"
echo "backup: data $data ($(du -h "$data" | cut -f1)), keys $keys"
