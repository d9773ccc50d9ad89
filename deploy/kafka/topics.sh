#!/usr/bin/env bash
# Creates the platform's Kafka topics with explicit settings, or brings the settings of existing
# topics up to date. Safe to run again (docker-compose.yml runs it on every `up`; run it yourself
# before the first deployment of a cluster, and after changing a value below).
#
#   usage: deploy/kafka/topics.sh BOOTSTRAP            e.g. kafka-0.kafka:9092
#
# Environment:
#   AFF_KAFKA_TOPIC_PREFIX  topic prefix (default aff.), as given to the binaries
#   REPLICATION             replication factor of new topics (default 3)
#   MIN_ISR                 min.insync.replicas (default 2; producers use acks=all)
#   PARTITIONS              if set, every new topic gets this many partitions (small dev boxes)
#   KAFKA_BIN               directory of Kafka's kafka-topics.sh and kafka-configs.sh
#                           (default: found on PATH, or /opt/kafka/bin as in the apache/kafka image)
#
# Partition counts cannot shrink, and growing them moves keys to other partitions: pick them for
# the traffic you expect (deploy/OPERATIONS.md: one partition per 1,000 clicks/s on clicks, at least
# as many as the sink or settler replicas you will run). The why of every value is in
# deploy/kafka/README.md.
set -euo pipefail

bootstrap=${1:?usage: topics.sh BOOTSTRAP (host:port of a broker)}
prefix=${AFF_KAFKA_TOPIC_PREFIX:-aff.}
replication=${REPLICATION:-3}
min_isr=${MIN_ISR:-2}

if [[ -z ${KAFKA_BIN:-} ]]; then
	if command -v kafka-topics.sh >/dev/null; then
		KAFKA_BIN=$(dirname "$(command -v kafka-topics.sh)")
	else
		KAFKA_BIN=/opt/kafka/bin
	fi
fi
for tool in kafka-topics.sh kafka-configs.sh; do
	if [[ ! -x $KAFKA_BIN/$tool ]]; then
		echo "topics.sh: $KAFKA_BIN/$tool not found: set KAFKA_BIN to the bin/ of an Apache Kafka install" >&2
		exit 2
	fi
done

day=86400000 # ms
#      topic          partitions  retention.ms  max.message.bytes  key (for the reader; set by the producers)
topics=(
	"clicks         24          $((7 * day))  1048576            device_token"
	"identities     12          $((30 * day)) 2097152            device_token"
	"orders         12          $((30 * day)) 2097152            order_id"
	"commissions    12          $((30 * day)) 1048576            partner_id"
	"store_credits  3           $((30 * day)) 1048576            customer_id"
	"dlq            3           $((90 * day)) 4194304            source_topic_full_name"
)

for row in "${topics[@]}"; do
	read -r name partitions retention max_bytes _key <<<"$row"
	partitions=${PARTITIONS:-$partitions}
	topic=$prefix$name
	configs=(retention.ms="$retention" max.message.bytes="$max_bytes" min.insync.replicas="$min_isr"
		cleanup.policy=delete compression.type=producer)
	args=()
	for c in "${configs[@]}"; do args+=(--config "$c"); done
	"$KAFKA_BIN/kafka-topics.sh" --bootstrap-server "$bootstrap" --create --if-not-exists \
		--topic "$topic" --partitions "$partitions" --replication-factor "$replication" "${args[@]}"
	# An existing topic keeps its partitions; its configs are brought up to date.
	"$KAFKA_BIN/kafka-configs.sh" --bootstrap-server "$bootstrap" --alter --entity-type topics \
		--entity-name "$topic" --add-config "$(IFS=,; echo "${configs[*]}")" >/dev/null
	echo "topics.sh: $topic ready ($("$KAFKA_BIN/kafka-topics.sh" --bootstrap-server "$bootstrap" --describe --topic "$topic" | grep -o 'PartitionCount: *[0-9]*'))"
done
