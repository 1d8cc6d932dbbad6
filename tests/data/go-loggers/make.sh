#!/usr/bin/env bash
# Regenerates the Go logger fixtures of tests/go_loggers.rs. Not run by
# `cargo test`: run it by hand after changing main.go, and commit what it
# writes (*.log, expected.json).
#
# Needs (Debian 12): apt-get install --no-install-recommends golang-go \
#   golang-go.uber-zap-dev golang-github-sirupsen-logrus-dev \
#   golang-github-rs-zerolog-dev golang-github-lib-pq-dev \
#   golang-github-jackc-pgx-v4-dev postgresql
# It starts a throwaway PostgreSQL (max_connections = 8) in a temporary
# directory, as the tests do, builds main.go in GOPATH mode against Debian's
# packaged sources, runs it, and stops the server.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
cleanup() {
    "$pgbin/pg_ctl" -D "$work/pg" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
if [ "$(id -u)" = 0 ]; then
    chown -R nobody "$work" 2>/dev/null || true
    run() { su nobody -s /bin/sh -c "$*"; }
else
    run() { sh -c "$*"; }
fi
run "'$pgbin/initdb' -D '$work/pg' -U postgres --auth=trust >/dev/null"
run "'$pgbin/pg_ctl' -D '$work/pg' -o \"-k '$work' -p 54329 -c listen_addresses='' -c max_connections=8 -c superuser_reserved_connections=3\" -l '$work/pg.log' -w start >/dev/null"
run "'$pgbin/psql' -h '$work' -p 54329 -U postgres -qc 'CREATE ROLE app LOGIN'"
super="postgres://postgres@/postgres?host=$work&port=54329&sslmode=disable"
app="postgres://app@/postgres?host=$work&port=54329&sslmode=disable"

mkdir -p "$work/gopath/src/gologgers"
cp "$here/main.go" "$work/gopath/src/gologgers/"
(cd "$work/gopath/src/gologgers" && GO111MODULE=off GOPATH="$work/gopath:/usr/share/gocode" GOCACHE="$work/gocache" GOFLAGS=-mod=mod go build -o "$work/gologgers" . 2>&1 || \
 (cd "$work/gopath/src/gologgers" && GO111MODULE=off GOPATH="$work/gopath:/usr/share/gocode" GOCACHE="$work/gocache" go build -o "$work/gologgers" .))
chmod 755 "$work/gologgers"
run "'$work/gologgers' -super '$super' -app '$app' -out '$work/out'"
# The socket directory is random: keep it out of the committed files.
for f in "$work"/out/*; do
    sed -i "s#$work#/tmp/pg#g" "$f"
done
cp "$work"/out/* "$here/"
ls -l "$here"
