#!/usr/bin/env bash
# demo.sh shows countersign end to end on one machine: it runs a 2-of-3
# cluster, waits for the nodes' pre-parameters, creates a wallet by
# distributed key generation, derives deposit addresses on every node to
# show they agree, and stops the cluster cleanly.
#
# The cluster lives in .demo-cache/cluster and is kept between runs. The
# first run waits while every node generates its pre-parameters (safe
# primes: 20-60 s per set per node on 2 cores, longer while three nodes
# share the CPU). Each wallet uses one set per node, and the nodes keep
# generating in the background, so later runs use the sets left over from
# earlier ones and usually start at once. rm -rf .demo-cache for a new
# cluster. The run's own output goes to demo-out/.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
CLUSTER=.demo-cache/cluster
OUT=demo-out
# Ports of a new demo cluster; away from signerctl's default 7001.
BASE_PORT=${DEMO_BASE_PORT:-17001}
NODES=(node-1 node-2 node-3)

say() { printf '\n==> %s\n' "$*"; }

say "building bin/"
"$GO" build -o bin/ ./cmd/...
ctl=bin/signerctl

rm -rf "$OUT"
mkdir -p "$OUT" .demo-cache
if [[ -f $CLUSTER/cluster.json ]]; then
	say "reusing the demo cluster in $CLUSTER"
else
	say "creating a 2-of-3 cluster in $CLUSTER"
	"$ctl" init -dir "$CLUSTER" -nodes 3 -threshold 2 -base-port "$BASE_PORT" -pool 2
fi

say "starting the cluster (signerctl dev; its log is $OUT/cluster.log)"
"$ctl" dev -dir "$CLUSTER" >"$OUT/cluster.log" 2>&1 &
dev_pid=$!
stop_cluster() {
	if kill -0 "$dev_pid" 2>/dev/null; then
		kill -INT "$dev_pid"
		wait "$dev_pid" || true
	fi
}
trap stop_cluster EXIT

for _ in $(seq 60); do
	if "$ctl" status -cluster "$CLUSTER" -all >/dev/null 2>&1; then
		break
	fi
	if ! kill -0 "$dev_pid" 2>/dev/null; then
		echo "the cluster did not start; the end of $OUT/cluster.log:" >&2
		tail -n 20 "$OUT/cluster.log" >&2
		exit 1
	fi
	sleep 0.5
done
"$ctl" status -cluster "$CLUSTER" -all

say "waiting for pre-parameters on every node (the first run takes a few minutes)"
"$ctl" pool wait -cluster "$CLUSTER" -min 1 -timeout 20m

say "creating a wallet: a distributed key generation among the three nodes"
"$ctl" wallet create -cluster "$CLUSTER" -label "demo-$(date +%Y%m%d-%H%M%S)" -json >"$OUT/wallet.json"
wallet=$(sed -n 's/^ *"wallet_id": *"\([^"]*\)".*/\1/p' "$OUT/wallet.json")
"$ctl" wallet show "$wallet" -cluster "$CLUSTER"

say "deriving testnet deposit addresses on every node"
printf '%-8s %-44s %s\n' PATH ADDRESS NODES | tee "$OUT/addresses.txt"
for index in 0 1 2; do
	want=""
	for node in "${NODES[@]}"; do
		got=$("$ctl" address -cluster "$CLUSTER" -node "$node" -wallet "$wallet" -network testnet -index "$index" -json |
			sed -n 's/^ *"address": *"\([^"]*\)".*/\1/p')
		if [[ -z $want ]]; then
			want=$got
		elif [[ $got != "$want" ]]; then
			echo "$node derives $got for m/0/$index, node-1 $want: the nodes disagree" >&2
			exit 1
		fi
	done
	printf '%-8s %-44s %s\n' "m/0/$index" "$want" "all 3 agree" | tee -a "$OUT/addresses.txt"
done

say "pre-parameters left for the next run"
"$ctl" status -cluster "$CLUSTER" -all | grep -E '^(node-|  pool)'

say "stopping the cluster"
stop_cluster
trap - EXIT
tail -n 1 "$OUT/cluster.log"

printf '\nDone. Where things are:\n'
printf '  %-24s %s\n' \
	"$CLUSTER/" "the cluster: CA, certificates, configs, node data (kept for the next run)" \
	"$OUT/cluster.log" "the nodes' logs" \
	"$OUT/wallet.json" "the wallet $wallet" \
	"$OUT/addresses.txt" "its first deposit addresses (testnet)"
cat <<EOF

Run it yourself:
  $ctl dev -dir $CLUSTER
  $ctl wallet list -cluster $CLUSTER
  $ctl address -cluster $CLUSTER -wallet $wallet -network testnet -index 3
EOF
