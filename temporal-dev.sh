#!/usr/bin/env bash
# Runs a local Temporal dev server for Chiffon: frontend on 127.0.0.1:${TEMPORAL_PORT:-7233}, Web UI on
# ${TEMPORAL_UI_PORT:-8233} (opening payloads through Chiffon's codec endpoint, CHIFFON_CODEC_ENDPOINT,
# by default the API's /api/codec), history persisted in .data/temporal.db so requests survive a
# restart, and Chiffon's search attributes registered. If a server already answers on the frontend
# port, it says so and exits 0, so running it twice is harmless. It runs in the foreground; Ctrl-C stops the server.
# Arguments are passed on to `temporal server start-dev` (e.g. --http-port 7243).
set -euo pipefail
cd "$(dirname "$0")"

host=${TEMPORAL_HOST:-127.0.0.1}
port=${TEMPORAL_PORT:-7233}
ui_port=${TEMPORAL_UI_PORT:-8233}
db_file=${TEMPORAL_DB_FILE:-.data/temporal.db}
# Payloads are sealed (lib/payload-codec.ts): the Web UI opens them through Chiffon's codec endpoint.
codec_endpoint=${CHIFFON_CODEC_ENDPOINT:-http://${CHIFFON_HOST:-127.0.0.1}:${PORT:-3000}/api/codec}

# Same lookup order as lib/tools.ts: override, project virtualenv, PATH.
temporal=${TEMPORAL_CLI_PATH:-}
if [ -z "$temporal" ]; then
  if [ -x .tools/venv/bin/temporal ]; then temporal=.tools/venv/bin/temporal
  else temporal=$(command -v temporal || true); fi
fi
if [ -z "$temporal" ]; then
  echo "temporal-dev.sh: no temporal CLI found; run 'npm run setup' or set TEMPORAL_CLI_PATH" >&2
  exit 1
fi

if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
  echo "temporal-dev.sh: a Temporal server already answers on $host:$port; leaving it running"
  exit 0
fi

mkdir -p "$(dirname "$db_file")"
echo "temporal-dev.sh: Temporal frontend $host:$port, Web UI http://$host:$ui_port, history in $db_file"
exec "$temporal" server start-dev \
  --ip "$host" --port "$port" --ui-port "$ui_port" \
  --db-filename "$db_file" \
  --ui-codec-endpoint "$codec_endpoint" \
  --log-level error \
  --search-attribute ChiffonStatus=Keyword \
  --search-attribute ChiffonServices=KeywordList \
  "$@"
