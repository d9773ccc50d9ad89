// Package check holds parse-level tests of the deployment material that no
// other module owns: the top-level docker-compose.yml against the AFF_*
// configuration contract (pkg/config), and the ClickHouse cluster DDL in
// deploy/clickhouse/cluster against the single-node migrations of
// pkg/migrate. Nothing here starts a container or a server.
package check
