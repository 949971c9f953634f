#!/usr/bin/env bash
# Installs whatever is missing for Chiffon, idempotently; a no-op in about a second when all is in place.
#   - npm dependencies from the committed lockfile (npm ci when the lockfile changed);
#   - a project-local Python virtualenv (.tools/venv) with the pinned Temporal binaries and Ansible;
#   - the generated Prisma client (generated/prisma) when schema.prisma changed;
#   - with --with-browser (what `npm test` passes; never `npm start`, which needs no browser):
#     Chromium (Debian package) for the dashboard browser test, when none is found and apt-get can run;
#   - with --with-test-hosts (what `npm test` passes; never `npm start`): Debian's openssh-server and
#     sudo for the SSH test hosts (test/support/ssh-hosts.ts), when sshd or sudo is missing and
#     apt-get can run.
# Each step records a stamp (a hash of its input) so it re-runs only when that input changes.
set -euo pipefail
cd "$(dirname "$0")/.."

with_browser=false
with_test_hosts=false
for arg in "$@"; do
  case "$arg" in
    --with-browser) with_browser=true ;;
    --with-test-hosts) with_test_hosts=true ;;
    *) echo "usage: scripts/setup.sh [--with-browser] [--with-test-hosts]" >&2; exit 2 ;;
  esac
done

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

# Chromium for the dashboard's browser test (test/e2e/dashboard.test.ts drives it with playwright-core;
# `npx playwright install` cannot download a browser here, Debian's package can). Looked for as the
# test does: CHIFFON_CHROMIUM, /usr/bin/chromium, then `chromium` on the PATH.
find_chromium() {
  if [ -n "${CHIFFON_CHROMIUM:-}" ]; then
    [ -x "$CHIFFON_CHROMIUM" ] && echo "$CHIFFON_CHROMIUM"
    return
  fi
  if [ -x /usr/bin/chromium ]; then echo /usr/bin/chromium; return; fi
  command -v chromium || true
}
as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi
}
can_install_chromium() {
  command -v apt-get >/dev/null 2>&1 || return 1
  [ "$(id -u)" = 0 ] || { command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; }
}
if [ "$with_browser" = true ] && [ -z "$(find_chromium)" ]; then
  if [ -n "${CHIFFON_CHROMIUM:-}" ]; then
    echo "chiffon setup: CHIFFON_CHROMIUM=$CHIFFON_CHROMIUM is not an executable; the dashboard's browser test will fail (CI) or be skipped" >&2
  elif can_install_chromium; then
    echo "chiffon setup: installing Chromium (Debian package chromium) for the dashboard's browser test"
    if ! { as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; }; then
      echo "chiffon setup: installing chromium failed; the dashboard's browser test will fail (CI) or be skipped" >&2
    fi
  else
    echo "chiffon setup: no Chromium, and it cannot be installed here (needs apt-get and root or passwordless sudo)." >&2
    echo "  The dashboard's browser test fails under CI=true and is skipped otherwise. Install Debian's chromium" >&2
    echo "  (sudo apt-get install chromium) or name a Chromium binary in CHIFFON_CHROMIUM." >&2
  fi
fi

# openssh-server and sudo for the SSH test hosts (test/e2e/ssh.test.ts starts sshd processes on
# loopback addresses and logs in as a non-root user with passwordless sudo). Looked for as the test
# does: sshd in /usr/sbin or on the PATH, sudo and visudo.
find_sshd() {
  if [ -x /usr/sbin/sshd ]; then echo /usr/sbin/sshd; return; fi
  command -v sshd || true
}
test_host_packages_missing() {
  local missing=()
  [ -n "$(find_sshd)" ] || missing+=(openssh-server)
  { command -v sudo >/dev/null 2>&1 && command -v visudo >/dev/null 2>&1; } || missing+=(sudo)
  echo "${missing[@]:-}"
}
if [ "$with_test_hosts" = true ]; then
  missing_packages=$(test_host_packages_missing)
  if [ -n "$missing_packages" ]; then
    # sudo -n cannot help install sudo itself: only root can install it where it is missing.
    if command -v apt-get >/dev/null 2>&1 && { [ "$(id -u)" = 0 ] || { command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; }; }; then
      echo "chiffon setup: installing $missing_packages (Debian packages) for the SSH test hosts"
      # shellcheck disable=SC2086 # one word per package
      if ! { as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing_packages; }; then
        echo "chiffon setup: installing $missing_packages failed; the SSH tests will fail (CI) or be skipped" >&2
      fi
    else
      echo "chiffon setup: no $missing_packages, and it cannot be installed here (needs apt-get and root or passwordless sudo)." >&2
      echo "  The SSH tests (test/e2e/ssh.test.ts) fail under CI=true and are skipped otherwise. Install Debian's" >&2
      echo "  openssh-server and sudo (apt-get install openssh-server sudo)." >&2
    fi
  fi
fi
