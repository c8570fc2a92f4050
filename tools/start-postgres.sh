#!/usr/bin/env bash
# Makes sure PostgreSQL answers on 127.0.0.1:5432 for the storage tests
# (run as root). Uses a server that is already running; otherwise installs
# Debian's `postgresql` if missing, starts its cluster and gives the
# `postgres` role the password `postgres` (a fresh cluster asks TCP clients
# for one; a server with trust auth ignores it). Idempotent.
set -euo pipefail

listening() { (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; }

if listening; then
  exit 0
fi
if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
  echo "installing postgresql"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq postgresql >/dev/null
fi
version=$(ls /etc/postgresql | sort -V | tail -1)
echo "starting PostgreSQL $version"
pg_ctlcluster "$version" main start || service postgresql start
for _ in $(seq 1 60); do
  listening && break
  sleep 0.5
done
listening || { echo "PostgreSQL did not start on 127.0.0.1:5432" >&2; exit 1; }
su postgres -c "psql -qc \"ALTER ROLE postgres PASSWORD 'postgres'\"" >/dev/null
