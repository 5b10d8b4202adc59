#!/usr/bin/env bash
# Create the secret files infra/compose.yaml mounts, in infra/secrets/ (or $1). Only missing files
# are written, so running it again changes nothing; values are never printed.
#
#   postgres_password                  random
#   triage_database_url                postgresql://triage:<postgres_password>@postgres:5432/triage
#   triage_alertmanager_bearer_token   random: Alertmanager's webhook sends it (same secret)
#   triage_datadog_webhook_token       random: paste it into Datadog's webhook (docs/integrations.md)
#   triage_pagerduty_webhook_secrets   empty: paste PagerDuty's signing secret (empty = intake off)
set -euo pipefail
dir="${1:-$(dirname "$0")/secrets}"
mkdir -p "$dir"
chmod 700 "$dir"   # the directory keeps other users of this host out
umask 022          # files stay readable inside the containers, which run as other uids

random() { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'; }

write() {  # write NAME VALUE: only if NAME does not exist yet
  if [[ ! -e "$dir/$1" ]]; then
    printf '%s' "$2" > "$dir/$1"
    echo "created $dir/$1"
  fi
}

write postgres_password "$(random)"
write triage_database_url "postgresql://triage:$(cat "$dir/postgres_password")@postgres:5432/triage"
write triage_alertmanager_bearer_token "$(random)"
write triage_datadog_webhook_token "$(random)"
write triage_pagerduty_webhook_secrets ""
