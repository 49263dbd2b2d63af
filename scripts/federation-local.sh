#!/usr/bin/env bash
# Three MariaDB servers on loopback ports for inventories/federation-local, with the
# options OpenNebula's guide gives a federation's servers (chapter 2):
#   zone-a (master): server-id 1, log-bin, binlog-format ROW
#   zone-b, zone-c:  server-id 2 and 3, relay-log, replicate-do-table for the shared tables
#
#   scripts/federation-local.sh start | stop
#
# Data under $ONEKIT_FEDERATION_BASE (default /var/tmp/onekit-federation)/zone-*/mysql,
# ports 3311-3313 unless ONEKIT_FEDERATION_ZONE_{A,B,C}_MYSQL_PORT say otherwise;
# the onekit login is $ONEKIT_FEDERATION_MYSQL_USER / _PASSWORD (default onekit/onekit-pw).
# `stop` also stops the onekit servers the playbook started there.
set -euo pipefail
BASE=${ONEKIT_FEDERATION_BASE:-/var/tmp/onekit-federation}
USER_NAME=${ONEKIT_FEDERATION_MYSQL_USER:-onekit}
USER_PW=${ONEKIT_FEDERATION_MYSQL_PASSWORD:-onekit-pw}
DB=opennebula
SHARED="user_pool group_pool zone_pool acl db_versioning"
# the ports inventories/federation-local reads (ONEKIT_FEDERATION_ZONE_*_MYSQL_PORT)
declare -A PORT=(
    [zone-a]=${ONEKIT_FEDERATION_ZONE_A_MYSQL_PORT:-3311}
    [zone-b]=${ONEKIT_FEDERATION_ZONE_B_MYSQL_PORT:-3312}
    [zone-c]=${ONEKIT_FEDERATION_ZONE_C_MYSQL_PORT:-3313}
)
declare -A ID=([zone-a]=1 [zone-b]=2 [zone-c]=3)
VENV_BIN=$(cd "$(dirname "$0")/.." && pwd)/.venv/bin

start_zone() {
    local zone=$1 dir=$BASE/$1/mysql args=()
    mkdir -p "$dir/tmp"
    if [ ! -d "$dir/data/mysql" ]; then
        mariadb-install-db --no-defaults --datadir="$dir/data" --user=root \
            --auth-root-authentication-method=normal --tmpdir="$dir/tmp" --skip-test-db >/dev/null
    fi
    if [ "$zone" = zone-a ]; then
        args+=(--log-bin=mysql-bin --binlog-format=ROW)
    else
        args+=(--relay-log=relay-bin)
        for table in $SHARED; do args+=("--replicate-do-table=$DB.$table"); done
    fi
    mariadbd --no-defaults --datadir="$dir/data" --tmpdir="$dir/tmp" --socket="$dir/sock" \
        --port="${PORT[$zone]}" --bind-address=127.0.0.1 --pid-file="$dir/mariadbd.pid" \
        --server-id="${ID[$zone]}" --skip-name-resolve --user=root "${args[@]}" \
        >>"$dir/mariadbd.log" 2>&1 &
    for _ in $(seq 100); do
        mariadb --no-defaults --socket="$dir/sock" -uroot -e "SELECT 1" >/dev/null 2>&1 && break
        sleep 0.1
    done
    mariadb --no-defaults --socket="$dir/sock" -uroot -e \
        "CREATE USER IF NOT EXISTS '$USER_NAME'@'%' IDENTIFIED BY '$USER_PW';
         GRANT ALL PRIVILEGES ON *.* TO '$USER_NAME'@'%' WITH GRANT OPTION"
    echo "$zone: MariaDB on 127.0.0.1:${PORT[$zone]} (server-id ${ID[$zone]})"
}

stop_zone() {
    local zone=$1 dir=$BASE/$1
    if [ -d "$dir/onekit" ]; then
        ONEKIT_HOME=$dir/onekit "$VENV_BIN/onekit-server" stop 2>/dev/null || true
    fi
    if [ -S "$dir/mysql/sock" ]; then
        mariadb-admin --no-defaults --socket="$dir/mysql/sock" -uroot shutdown || true
        echo "$zone: stopped"
    fi
}

case "${1:-}" in
    start) for zone in zone-a zone-b zone-c; do start_zone "$zone"; done ;;
    stop) for zone in zone-a zone-b zone-c; do stop_zone "$zone"; done ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
