#!/usr/bin/env bash
# Runs every test: host, SDK, plugins, end-to-end. First it installs what the tests drive
# besides the Rust toolchain, where it is missing:
#   - the wasm32-wasip2 target the plugins are built for;
#   - Debian packages: a C compiler, perl and make (SQLCipher and aws-lc), strace
#     (tests/data.rs watches for network connections), Chromium and its WebDriver
#     (tests/browser.rs), Node.js with npm, PostgreSQL (the store's PostgreSQL tests),
#     openssl (the test server's TLS certificates), docker-registry (the OCI registry
#     tests/lifecycle.rs publishes plugins to);
#   - componentize-py 0.25.1, in a virtualenv under target/tools (tests/python.rs);
#   - the JavaScript example's pinned componentize-js (`npm ci`, tests/javascript.rs).
# Then it starts a throwaway PostgreSQL cluster for the run (stopped and deleted at the end).
# A tool it cannot install stops it here, naming the tool, rather than failing a test later.
# Arguments go to `cargo test` (`./test.sh --test concurrency`).
set -euo pipefail
cd "$(dirname "$0")"

say() { printf 'test.sh: %s\n' "$*" >&2; }

rustup show active-toolchain >/dev/null
rustup target add wasm32-wasip2 >/dev/null 2>&1 || {
    say "cannot add the wasm32-wasip2 target: run \`rustup target add wasm32-wasip2\`"
    exit 1
}

# Debian packages, installed as root (or through sudo) when missing.
missing=()
command -v cc >/dev/null 2>&1 || missing+=(build-essential)
command -v perl >/dev/null 2>&1 || missing+=(perl)
command -v make >/dev/null 2>&1 || missing+=(make)
command -v strace >/dev/null 2>&1 || missing+=(strace)
command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
python3 -c "import ensurepip, venv" >/dev/null 2>&1 || missing+=(python3-venv)
pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
[ -n "$(pg_bin)" ] && command -v psql >/dev/null 2>&1 || missing+=(postgresql postgresql-client)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ]; then
        as_root=()
    elif command -v sudo >/dev/null 2>&1; then
        as_root=(sudo)
    else
        say "these Debian packages are missing and there is no root or sudo to install them: ${missing[*]}"
        exit 1
    fi
    say "installing ${missing[*]}"
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

# componentize-py, at the version it was checked with, in a virtualenv of its own.
venv=target/tools/venv
if ! "$venv/bin/componentize-py" --version 2>/dev/null | grep -qx "componentize-py 0.25.1"; then
    say "installing componentize-py 0.25.1 into $venv"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet componentize-py==0.25.1
fi
export PATH="$PWD/$venv/bin:$PATH"

# componentize-js, pinned by the example's package-lock.json.
npm ci --prefix examples/big-accounts-js --no-audit --no-fund --silent

# A throwaway PostgreSQL cluster for this run: on a Unix socket, and with TLS on 127.0.0.1 at
# a free port (crates/store/tests/postgres_tls.rs), its certificate issued for `localhost` by
# a test authority made here. PostgreSQL refuses to run as root, so as root it runs as the
# `postgres` user the package created.
pg="$(mktemp -d /tmp/outreach-test-pg.XXXXXX)"
as_postgres=()
if [ "$(id -u)" -eq 0 ]; then
    chown postgres "$pg"
    as_postgres=(runuser -u postgres --)
fi
stop_postgres() {
    "${as_postgres[@]}" "$(pg_bin)/pg_ctl" -D "$pg/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$pg"
}
trap stop_postgres EXIT
"${as_postgres[@]}" "$(pg_bin)/initdb" -D "$pg/data" -A trust -U postgres >"$pg/initdb.log" 2>&1 || {
    say "initdb failed:"; cat "$pg/initdb.log" >&2; exit 1
}
# One role logs in over TLS by password only (SCRAM), for the channel binding test; the
# first matching line of pg_hba.conf wins, so it goes above initdb's trust lines.
{ echo "hostssl all outreach_scram 127.0.0.1/32 scram-sha-256"; cat "$pg/data/pg_hba.conf"; } >"$pg/hba"
cat "$pg/hba" >"$pg/data/pg_hba.conf"
tls="$pg/tls"
mkdir "$tls"
certificate_authority() {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
        -subj "/CN=$1" -keyout "$tls/$2.key" -out "$tls/$2.pem" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign 2>/dev/null
}
certificate_authority "outreach test authority" ca
certificate_authority "an authority nobody trusts" other-ca
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=localhost" \
    -keyout "$tls/server.key" -out "$tls/server.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$tls/server.ext"
openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" -CAcreateserial \
    -days 2 -extfile "$tls/server.ext" -out "$tls/server.pem" 2>/dev/null
chmod 600 "$tls/server.key"
[ "$(id -u)" -eq 0 ] && chown -R postgres "$tls"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"${as_postgres[@]}" "$(pg_bin)/pg_ctl" -D "$pg/data" -l "$pg/server.log" -w \
    -o "-k $pg -p $port -c listen_addresses=127.0.0.1 -c ssl=on -c ssl_cert_file=$tls/server.pem -c ssl_key_file=$tls/server.key" \
    start >/dev/null || {
    say "PostgreSQL did not start:"; cat "$pg/server.log" >&2; exit 1
}
export OUTREACH_TEST_POSTGRES="host=$pg port=$port user=postgres"
export OUTREACH_TEST_POSTGRES_TLS="host=localhost port=$port user=postgres"
export OUTREACH_TEST_POSTGRES_TLS_DIR="$tls"

# The test build also builds the plugin components (crates/runtime/build.rs) into target/plugins.
cargo test --workspace --locked "$@"
