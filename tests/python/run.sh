#!/usr/bin/env bash
# Run the third-party-client end-to-end suite against a running fhird.
#
#   FHIRD_URL=http://127.0.0.1:8080 tests/python/run.sh [extra pytest args]
#
# FHIRD_URL      server root (required; the tests fail without it)
# FHIRD_PY_VENV  virtualenv to create or reuse (default: <repo>/target/py-venv)
# FHIRD_PYTHON   interpreter used to create the venv (default: python3.11, else python3)
#
# Exit code: pytest's (or non-zero if the venv cannot be set up).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv="${FHIRD_PY_VENV:-$repo/target/py-venv}"
req="$here/requirements.txt"

if [[ -z "${FHIRD_PYTHON:-}" ]]; then
  if command -v python3.11 >/dev/null 2>&1; then FHIRD_PYTHON=python3.11; else FHIRD_PYTHON=python3; fi
fi

if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c 'import sys' >/dev/null 2>&1; then
  rm -rf "$venv"
  "$FHIRD_PYTHON" -m venv "$venv"
fi

# Reinstall only when requirements.txt changed since the last successful install.
stamp="$venv/.fhird-requirements.sha256"
want="$(sha256sum "$req" | cut -d' ' -f1)"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
  echo "$want" > "$stamp"
fi

if [[ -z "${FHIRD_URL:-}" ]]; then
  echo "run.sh: FHIRD_URL is not set; the suite will fail" >&2
fi

cd "$here"
export PYTHONDONTWRITEBYTECODE=1
set +e
"$venv/bin/python" -m pytest -q -p no:cacheprovider "$@" "$here"
rc=$?
exit $rc
