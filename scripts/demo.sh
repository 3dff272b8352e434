#!/usr/bin/env bash
# Certkeeper demo: a local ACME CA (Pebble) with a mock DNS server (pebble-challtestsrv),
# `certkeeper all-in-one` in the background, then one certificate for www.example.test and
# api.example.test issued over HTTP-01 through the REST API, with curl.
#
#   scripts/demo.sh         (re)start the demo; the three processes keep running afterwards
#   scripts/demo.sh stop    stop them, by the pids recorded in data/demo/*.pid
#
# Everything lives in data/demo/: logs, pid files, Pebble's TLS files and config,
# certkeeper's SQLite database and key file, the admin token, the issued chain.
# Each start stops a previous demo and begins with an empty data/demo/.
#
# Environment: DEMO_HTTP_PORT (default 8080; a free port is used when it is taken),
# DEMO_ISSUE_TIMEOUT (seconds to wait for the certificate, default 60).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
DEMO_DIR=$ROOT/data/demo
VENV=$ROOT/.venv
PY=$VENV/bin/python
CERTKEEPER=$VENV/bin/certkeeper
HOST=127.0.0.1
PREFERRED_PORT=${DEMO_HTTP_PORT:-8080}
ISSUE_TIMEOUT=${DEMO_ISSUE_TIMEOUT:-60}
CONTACT_EMAIL=demo@example.org
COMMON_NAME=www.example.test
ALT_NAME=api.example.test
STOP_ORDER=(certkeeper pebble challtestsrv)

say() { printf '==> %s\n' "$*"; }
die() {
    printf 'demo: %s\n' "$*" >&2
    exit 1
}
util() { "$PY" "$ROOT/scripts/demo_util.py" "$@"; }

# ---------------------------------------------------------------------------------------
# Process bookkeeping: <name>.pid holds the pid, <name>.cmdline the command line it had,
# so that `stop` never signals an unrelated process that reused the pid.

cmdline_of() { tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null || true; }

# Running (a zombie, killed but not yet reaped by this shell, does not count).
alive() {
    local stat
    kill -0 "$1" 2>/dev/null || return 1
    read -r stat 2>/dev/null <"/proc/$1/stat" || return 1
    stat=${stat##*) }
    [[ ${stat:0:1} != Z ]]
}

stop_one() {
    local name=$1 pid
    local pid_file=$DEMO_DIR/$name.pid cmd_file=$DEMO_DIR/$name.cmdline
    [[ -f $pid_file ]] || return 0
    pid=$(<"$pid_file")
    if [[ $pid =~ ^[0-9]+$ ]] && alive "$pid" && [[ -f $cmd_file ]] \
        && [[ "$(cmdline_of "$pid")" == "$(<"$cmd_file")" ]]; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 100); do
            alive "$pid" || break
            sleep 0.1
        done
        if alive "$pid"; then
            kill -KILL "$pid" 2>/dev/null || true
        fi
        echo "stopped $name (pid $pid)"
    fi
    rm -f "$pid_file" "$cmd_file"
}

stop_all() {
    [[ -d $DEMO_DIR ]] || return 0
    local name
    for name in "${STOP_ORDER[@]}"; do
        stop_one "$name"
    done
}

# start_bg NAME COMMAND... : run in its own session, output to NAME.log, pid to NAME.pid.
start_bg() {
    local name=$1
    shift
    # setsid execs (the shell's background child is no process group leader), so $! is the
    # server's own pid.
    setsid "$@" >"$DEMO_DIR/$name.log" 2>&1 </dev/null &
    echo $! >"$DEMO_DIR/$name.pid"
}

# wait_ready NAME SECONDS COMMAND... : poll COMMAND until it succeeds; fail if NAME died.
wait_ready() {
    local name=$1 timeout=$2
    shift 2
    local pid deadline=$((SECONDS + timeout))
    pid=$(<"$DEMO_DIR/$name.pid")
    until "$@" >/dev/null 2>&1; do
        alive "$pid" || die "$name (pid $pid) exited; see $DEMO_DIR/$name.log"
        ((SECONDS < deadline)) || die "$name not ready after ${timeout}s; see $DEMO_DIR/$name.log"
        sleep 0.1
    done
    if grep -qi 'address already in use' "$DEMO_DIR/$name.log"; then
        die "$name could not bind a port (a race with another program); run the demo again"
    fi
    cmdline_of "$pid" >"$DEMO_DIR/$name.cmdline"
}

show_logs() {
    local name
    for name in challtestsrv pebble certkeeper; do
        [[ -s $DEMO_DIR/$name.log ]] || continue
        printf '\n--- last lines of %s ---\n' "$DEMO_DIR/$name.log" >&2
        tail -n 25 "$DEMO_DIR/$name.log" >&2
    done
}

on_exit() {
    local status=$?
    if ((status != 0)) && [[ ${STARTED:-0} == 1 ]]; then
        show_logs
        printf '\ndemo failed; stopping its processes (logs stay in %s)\n' "$DEMO_DIR" >&2
        stop_all >&2
    fi
}

# ---------------------------------------------------------------------------------------
# REST calls: api METHOD PATH [JSON] sets STATUS and BODY; expect STATUS... checks them.

api() {
    local method=$1 path=$2 data=${3-}
    local args=(-sS -o "$DEMO_DIR/.last-response" -w '%{http_code}' -X "$method"
        -H "Authorization: Bearer $TOKEN" -H 'Accept: application/json')
    if [[ -n $data ]]; then
        args+=(-H 'Content-Type: application/json' --data "$data")
    fi
    LAST_CALL="$method $path"
    STATUS=$(curl "${args[@]}" "$BASE_URL$path") || die "$LAST_CALL: no answer from $BASE_URL"
    BODY=$(<"$DEMO_DIR/.last-response")
}

expect() {
    local code
    for code in "$@"; do
        [[ $STATUS == "$code" ]] && return 0
    done
    printf 'demo: %s answered HTTP %s:\n' "$LAST_CALL" "$STATUS" >&2
    util pretty <<<"$BODY" >&2
    exit 1
}

field() { util field "$1" <<<"$BODY"; }

# ---------------------------------------------------------------------------------------

start_demo() {
    say "Installing what is missing (make install)"
    "${MAKE:-make}" --no-print-directory -C "$ROOT" install

    if [[ -d $DEMO_DIR ]]; then
        say "Stopping the previous demo"
        stop_all
        rm -rf "$DEMO_DIR"
    fi
    mkdir -p "$DEMO_DIR/pebble"
    trap on_exit EXIT
    STARTED=1

    # Our environment only: a CERTKEEPER_* variable from the caller's shell (a production
    # database URL, say) must not leak into the demo.
    local var
    while read -r var; do unset "$var"; done < <(compgen -e | grep '^CERTKEEPER_' || true)

    local dns_port mgmt_port pebble_port pebble_mgmt_port tls_port http_port ports
    dns_port=$(util free-ports 1 --udp)
    http_port=$(util free-ports 1 --prefer "$PREFERRED_PORT" --exclude "$dns_port")
    ports=$(util free-ports 4 --exclude "$dns_port" "$http_port")
    read -r mgmt_port pebble_port pebble_mgmt_port tls_port <<<"$ports"

    say "Starting pebble-challtestsrv (DNS on $HOST:$dns_port: every name is $HOST)"
    start_bg challtestsrv pebble-challtestsrv \
        -dns01 "$HOST:$dns_port" -management "$HOST:$mgmt_port" \
        -defaultIPv4 "$HOST" -defaultIPv6 "" \
        -http01 "" -https01 "" -tlsalpn01 ""
    wait_ready challtestsrv 15 util wait-dns "$dns_port" --timeout 0.5

    say "Starting Pebble (ACME directory https://$HOST:$pebble_port/dir)"
    local pebble_dir=$DEMO_DIR/pebble
    "$PY" "$ROOT/scripts/pebble_tls.py" "$pebble_dir"
    util pebble-config "$pebble_dir/pebble-config.json" \
        --listen "$pebble_port" --management "$pebble_mgmt_port" \
        --http-port "$http_port" --tls-port "$tls_port" \
        --certificate "$pebble_dir/cert.pem" --private-key "$pebble_dir/key.pem"
    start_bg pebble env PEBBLE_VA_NOSLEEP=1 \
        pebble -config "$pebble_dir/pebble-config.json" -dnsserver "$HOST:$dns_port"
    wait_ready pebble 30 curl -fsS --cacert "$pebble_dir/ca.pem" "https://$HOST:$pebble_port/dir"

    say "Starting certkeeper all-in-one on http://$HOST:$http_port"
    export CERTKEEPER_DATA_DIR=$DEMO_DIR/certkeeper
    export CERTKEEPER_HTTP_HOST=$HOST
    export CERTKEEPER_HTTP_PORT=$http_port
    export CERTKEEPER_ACME_DIRECTORY_URL=https://$HOST:$pebble_port/dir
    export CERTKEEPER_ACME_CA_BUNDLE=$pebble_dir/ca.pem
    export CERTKEEPER_ALLOWED_PRIVATE_SUFFIXES=test
    export CERTKEEPER_ACME_ALLOWED_NETWORKS=127.0.0.0/8
    export CERTKEEPER_LOG_LEVEL=INFO
    mkdir -p "$CERTKEEPER_DATA_DIR"
    BASE_URL=http://$HOST:$http_port
    start_bg certkeeper "$CERTKEEPER" all-in-one
    wait_ready certkeeper 60 curl -fsS "$BASE_URL/readyz"

    say "Creating an admin API token (certkeeper token create --role admin --name demo)"
    TOKEN=$("$CERTKEEPER" token create --role admin --name demo)
    [[ -n $TOKEN ]] || die "certkeeper token create printed no token"
    (umask 077 && printf '%s\n' "$TOKEN" >"$DEMO_DIR/admin.token")

    say "Registering an ACME account at Pebble (POST /v1/acme-accounts)"
    api POST /v1/acme-accounts \
        "{\"contact_email\": \"$CONTACT_EMAIL\", \"terms_of_service_agreed\": true}"
    expect 201
    local account_id
    account_id=$(field id)
    echo "    account $account_id: $(field status), $(field account_url)"

    say "Requesting a certificate for $COMMON_NAME, $ALT_NAME over http-01"
    api POST /v1/certificate-requests "{
        \"common_name\": \"$COMMON_NAME\",
        \"subject_alternative_names\": [\"$ALT_NAME\"],
        \"key_type\": \"ec\", \"curve\": \"p-256\",
        \"challenge_type\": \"http-01\", \"validation\": \"automatic\",
        \"acme_account_id\": \"$account_id\"}"
    expect 202
    local request_id status seen="" began=$SECONDS
    request_id=$(field id)
    echo "    request $request_id"
    while :; do
        api GET "/v1/certificate-requests/$request_id"
        expect 200
        status=$(field status)
        if [[ $status != "$seen" ]]; then
            echo "    status: $status"
            seen=$status
        fi
        case $status in
            issued) break ;;
            failed | cancelled)
                echo "demo: the request ended $status; its error:" >&2
                util field error <<<"$BODY" | util pretty >&2
                exit 1
                ;;
        esac
        ((SECONDS - began < ISSUE_TIMEOUT)) || die "not issued after ${ISSUE_TIMEOUT}s (status $status)"
        sleep 0.5
    done

    local certificate_id
    certificate_id=$(field certificate_id)
    api GET "/v1/certificates/$certificate_id"
    expect 200
    say "Issued certificate"
    util certificate <<<"$BODY"
    api GET "/v1/certificates/$certificate_id/pem"
    expect 200
    cp "$DEMO_DIR/.last-response" "$DEMO_DIR/$COMMON_NAME.pem"
    echo "    chain (PEM) saved to ${DEMO_DIR#"$ROOT"/}/$COMMON_NAME.pem"

    local rel=${DEMO_DIR#"$ROOT"/}
    cat <<EOF

Certkeeper is running at $BASE_URL (all-in-one, SQLite in $rel/certkeeper/).
  API docs (Swagger UI): $BASE_URL/docs
  Admin token:           $TOKEN
                         (also in $rel/admin.token)
  Try:  curl -H "Authorization: Bearer \$(cat $rel/admin.token)" $BASE_URL/v1/certificates
  ACME CA:               Pebble at https://$HOST:$pebble_port/dir (test CA, state in memory)
  Logs:                  $rel/certkeeper.log, $rel/pebble.log, $rel/challtestsrv.log
Stop with: make demo-stop   (pids: certkeeper $(<"$DEMO_DIR/certkeeper.pid"), \
pebble $(<"$DEMO_DIR/pebble.pid"), pebble-challtestsrv $(<"$DEMO_DIR/challtestsrv.pid"))
EOF
}

case ${1:-start} in
    start) start_demo ;;
    stop)
        stop_all
        echo "demo stopped"
        ;;
    *) die "usage: $0 [start|stop]" ;;
esac
