# shellcheck shell=bash
# Sourced by generate-clients and clients-smoke: `clients_venv DIR` makes DIR a virtualenv with the
# pinned Python tools of scripts/clients/requirements.txt (kept while that file is unchanged) and
# sets venv=DIR. Failures go to fail_setup, which the caller defines.

clients_venv() {
  local requirements stamp
  venv="$1"
  requirements="$(cd "$(dirname "${BASH_SOURCE[0]}")/../clients" && pwd)/requirements.txt"
  stamp="$venv/.clients-requirements"
  if [[ -f "$stamp" ]] && cmp -s "$stamp" "$requirements"; then
    return 0
  fi
  rm -rf "$venv"
  python3 -m venv "$venv" || fail_setup "cannot create a virtualenv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements" ||
    fail_setup "cannot install scripts/clients/requirements.txt"
  cp "$requirements" "$stamp"
}
