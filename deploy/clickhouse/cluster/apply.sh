#!/usr/bin/env bash
# Applies the cluster DDL to a ClickHouse cluster (ReplicatedMergeTree + Distributed), in version
# order, through one node: every statement is ON CLUSTER, so each node creates its own objects.
# Safe to run again (IF NOT EXISTS everywhere). Run it before the first `settler migrate`, which then
# finds every table and view in place and only records the versions.
#
#   usage: deploy/clickhouse/cluster/apply.sh CLUSTER [DB] [clickhouse-client flags...]
#   e.g.   deploy/clickhouse/cluster/apply.sh aff affiliate --host ch-0.clickhouse --port 9000
#
# CLUSTER must be a <remote_servers> entry of every node, and every node needs the {shard} and
# {replica} <macros> and a ClickHouse Keeper (or ZooKeeper) for the replicated tables.
set -euo pipefail
cluster=${1:?usage: apply.sh CLUSTER [DB] [clickhouse-client flags...]}
db=${2:-affiliate}
shift $(($# >= 2 ? 2 : 1))
dir=$(dirname "$0")
clickhouse-client "$@" --query "CREATE DATABASE IF NOT EXISTS \`$db\` ON CLUSTER '$cluster'"
for f in "$dir"/[0-9]*.sql; do
	echo "apply.sh: $(basename "$f")"
	sed -e "s/\${DB}/$db/g" -e "s/\${CLUSTER}/$cluster/g" "$f" | clickhouse-client "$@" --multiquery
done
