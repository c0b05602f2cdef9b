# shellcheck shell=bash
# Sourced by the scripts that test the real server (contract-check, clients-smoke): builds the
# gateway and starts it on a free local port with SQLite in a temporary directory and the echo
# provider, with one admin user.
#
#   start_test_gateway WORK USERNAME [EXTRA_TOML]
#
# WORK is an existing temporary directory (config, database, log); the caller removes it and
# calls stop_test_gateway in its EXIT trap. Sets: gateway (the binary), base (the URL),
# password (the admin's), server_pid. EXTRA_TOML is appended to the config (more sections).
# Failures go to fail_setup, which the caller defines.

server_pid=""

start_test_gateway() {
  local work="$1" username="$2" extra="${3:-}"
  local root target port
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
  target="${CARGO_TARGET_DIR:-$root/target}"
  (cd "$root" && cargo build --locked -p voice-gateway --quiet) || fail_setup "the gateway does not build"
  gateway="$target/debug/voice-gateway"
  port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  base="http://127.0.0.1:$port"
  cat >"$work/gateway.toml" <<TOML
[server]
host = "127.0.0.1"
port = $port

[log]
level = "warn"

[database]
url = "sqlite://$work/data/gateway.db"

[gateway]
recordings_dir = "$work/data/recordings"

[auth]
jwt_secret_file = "$work/data/jwt-secret"

[providers.echo]
kind = "echo"
turn_interval_ms = 50
TOML
  printf '%s\n' "$extra" >>"$work/gateway.toml"
  # Only the temporary config counts (not the caller's environment).
  unset DATABASE_URL HOST PORT LOG_LEVEL LOG_FORMAT ENVIRONMENT
  while IFS= read -r name; do unset "$name"; done < <(env | sed -n 's/^\(VOICE_GATEWAY__[^=]*\)=.*/\1/p')

  password="$username-$(python3 -c 'import secrets; print(secrets.token_hex(12))')"
  "$gateway" --config "$work/gateway.toml" migrate >/dev/null || fail_setup "migrate failed"
  printf '%s\n' "$password" |
    "$gateway" --config "$work/gateway.toml" user create --username "$username" \
      --email "$username@example.com" --role admin --password-stdin >/dev/null ||
    fail_setup "cannot create the admin user"
  "$gateway" --config "$work/gateway.toml" serve >"$work/gateway.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 100); do
    curl -fsS "$base/health/live" >/dev/null 2>&1 && return 0
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/gateway.log" >&2; fail_setup "the gateway exited"; }
    sleep 0.1
  done
  fail_setup "the gateway did not answer /health/live"
}

stop_test_gateway() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
}
