#!/usr/bin/env bash
# demo.sh shows countersign withdrawals end to end on one machine, and the
# DMM Bitcoin attack refused. It runs a 2-of-3 cluster on loopback whose
# genesis policy names three lab officers (alice, bob, carol), creates a
# wallet by distributed key generation, derives a deposit address on every
# node, and fabricates regtest transactions funding it (broadcast nowhere).
# Officers alice and bob sign the next policy version, which gives the
# wallet one allowed destination, caps, an approval tier (0.3 BTC and more
# need 2 approvals of group treasury) and the ledger key that must sign
# every intent. The cluster signs a 0.25 BTC withdrawal at once; a 0.45 BTC
# one waits until alice and bob approve it from the officer CLI, then signs.
# Then it submits a withdrawal paying another address, as the altered
# request at DMM Bitcoin did: unsigned by the ledger it is refused
# (policy.intent_unsigned), signed it is refused by the allowlist
# (policy.destination_not_allowed), and under the signed withdrawal's id
# the nodes refuse the id (withdrawal.id_reused). Last, an auditor verifies
# the three nodes' logs, cross-checks them and replays every decision.
#
# The cluster lives in .demo-cache/cluster and is kept between runs: it is a
# throwaway lab cluster (plaintext sealer keys, loopback only), and rm -rf
# .demo-cache discards it. The first run waits while every node generates
# its pre-parameters (safe primes: about a minute for all three on 2 cores);
# each wallet uses one set per node, and the nodes generate the next set
# while the demo goes on, so a later run usually finds one ready. The run's
# files (funding.hex, withdrawal.psbt, signed.hex, each node's bbolt file,
# logs) go to demo-out/.
#
# --- Ethereum (begin: header) ---
# Then, on the same cluster, Ethereum on Sepolia (no chain is reached: the
# nodes see none). Two more wallets, an account and an owner of a Safe
# (v1.3.0), are made by distributed key generation on the cluster's first
# run, in the background while the Bitcoin part goes on, since each waits
# for a new pre-parameter set on every node; later runs reuse them, and
# their nonces go on from the last run's. Officers alice and bob sign one
# policy version with both wallets' rules (Sepolia, the token USDC, the
# Safe). The cluster signs an ETH and a USDC transfer at the account's next
# two nonces and the Safe owner's signature of a SafeTx; it refuses the
# Bybit SafeTx (the same transfer as a DELEGATECALL: safe.operation) and a
# USDC approve() the ledger thinks is a transfer (data.selector). The
# signed transactions and the owner signature go to demo-out/eth/. The
# first run, which makes three wallets, also waits for the set the next
# run's Bitcoin wallet will use: about 6 minutes on 2 cores; later runs
# about 1.5.
# --- Ethereum (end: header) ---
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
CACHE=.demo-cache
CLUSTER=$CACHE/cluster
OUT=demo-out
# Ports of a new demo cluster; away from signerd init's default 7001.
BASE_PORT=${DEMO_BASE_PORT:-17001}
NODES=(node-1 node-2 node-3)
# Regtest addresses: the exchange's cold storage, the one destination the
# policy allows, and the attacker's, swapped in for it.
COLD=bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080
ATTACKER=bcrt1qq6hag67dl53wl99vzg42z8eyzfz2xlkvwk6f7m
# Until this many seconds into the run, the demo waits for the nodes to
# finish the pre-parameters the next run will use: a first run on 2 cores
# still ends within 3 minutes.
REFILL_UNTIL=${DEMO_REFILL_UNTIL:-150}

start=$SECONDS
say() { printf '\n==> [%3ds] %s\n' "$((SECONDS - start))" "$*"; }
die() {
	echo "demo: $*" >&2
	exit 1
}

say "building bin/"
"$GO" build -o bin/ ./cmd/...
ctl=bin/signerctl
signerd=bin/signerd
officer=bin/officer

rm -rf "$OUT"
mkdir -p "$OUT" "$CACHE"
if [[ -f $CLUSTER/cluster.json ]] && ! grep -q '"genesis_policy"' "$CLUSTER/nodes/node-1/config.json"; then
	say "the demo cluster in $CLUSTER predates policy bundles: discarding it"
	rm -rf "$CLUSTER"
fi
if [[ -f $CLUSTER/cluster.json ]]; then
	say "reusing the demo cluster in $CLUSTER"
else
	say "creating a 2-of-3 cluster in $CLUSTER with lab officers alice, bob and carol (each node keeps 1 pre-parameter set ready)"
fi
c=(-cluster "$CLUSTER")
LAB=$CLUSTER/lab-keys
# as_officer NAME ARGS...: runs the officer CLI as a lab officer.
as_officer() {
	local name=$1
	shift
	"$officer" -cluster "$CLUSTER" -key "$LAB/$name.key" -name "$name" "$@"
}

say "starting the cluster (signerd dev; its log is $OUT/cluster.log)"
"$signerd" dev -dir "$CLUSTER" -nodes 3 -threshold 2 -base-port "$BASE_PORT" -pool 1 >"$OUT/cluster.log" 2>&1 &
dev_pid=$!
stop_cluster() {
	if kill -0 "$dev_pid" 2>/dev/null; then
		kill -INT "$dev_pid"
		wait "$dev_pid" || true
	fi
}
trap stop_cluster EXIT

for _ in $(seq 60); do
	if "$ctl" status "${c[@]}" -all >/dev/null 2>&1; then
		break
	fi
	if ! kill -0 "$dev_pid" 2>/dev/null; then
		tail -n 20 "$OUT/cluster.log" >&2
		die "the cluster did not start; the end of $OUT/cluster.log is above"
	fi
	sleep 0.5
done

say "waiting for pre-parameters on every node (safe primes; the first run takes about a minute)"
"$ctl" pool wait "${c[@]}" -min 1 -timeout 20m

say "creating a wallet: a distributed key generation among the three nodes"
"$ctl" wallet create "${c[@]}" -label "demo-$(date +%Y%m%d-%H%M%S)" -json >"$OUT/wallet.json"
wallet=$(sed -n 's/^ *"wallet_id": *"\([^"]*\)".*/\1/p' "$OUT/wallet.json")
[[ -n $wallet ]] || die "no wallet id in $OUT/wallet.json"
"$ctl" wallet show "$wallet" "${c[@]}"

# --- Ethereum (begin: its wallets) ---
# The Ethereum wallets are made once per cluster; their ids stay in
# $ETH_WALLETS. A key generation takes a pre-parameter set on every node and
# a node makes one in tens of seconds, so the two of the first run run in
# the background, each waiting for its sets, while the Bitcoin part goes on.
ETH_OUT=$OUT/eth
ETH_WALLETS=$CACHE/eth-wallets
mkdir -p "$ETH_OUT"
eth_account="" eth_owner="" eth_keygen=""
if [[ -f $ETH_WALLETS ]]; then
	eth_account=$(sed -n 's/^account=//p' "$ETH_WALLETS")
	eth_owner=$(sed -n 's/^safe_owner=//p' "$ETH_WALLETS")
	for w in "$eth_account" "$eth_owner"; do
		if [[ -z $w ]] || ! "$ctl" wallet show "$w" "${c[@]}" >/dev/null 2>&1; then
			eth_account="" eth_owner=""
		fi
	done
fi
if [[ -z $eth_account ]]; then
	say "Ethereum: two wallets, an account and a Safe owner, by key generation in the background (each waits for new pre-parameters on every node)"
	(
		"$ctl" wallet create "${c[@]}" -label demo-eth-account -json >"$ETH_OUT/wallet-account.json" 2>"$ETH_OUT/wallet-account.log"
		"$ctl" wallet create "${c[@]}" -label demo-eth-safe-owner -json >"$ETH_OUT/wallet-safe-owner.json" 2>"$ETH_OUT/wallet-safe-owner.log"
	) &
	eth_keygen=$!
	trap 'kill "$eth_keygen" 2>/dev/null || true; stop_cluster' EXIT
else
	say "Ethereum: reusing this cluster's wallets $eth_account (an account) and $eth_owner (a Safe owner)"
fi
# --- Ethereum (end: its wallets) ---

say "deriving the deposit address m/0/0 on every node"
deposit=""
for node in "${NODES[@]}"; do
	got=$("$ctl" address "${c[@]}" -node "$node" -wallet "$wallet" -network regtest -index 0 -json |
		sed -n 's/^ *"address": *"\([^"]*\)".*/\1/p')
	printf '  %-8s %s\n' "$node" "$got"
	if [[ -z $deposit ]]; then
		deposit=$got
	elif [[ $got != "$deposit" ]]; then
		die "$node derives $got, node-1 $deposit: the nodes disagree"
	fi
done

say "fabricating a regtest transaction that funds it (never broadcast: it only gives the demo coins)"
"$ctl" fund "${c[@]}" -wallet "$wallet" -network regtest -paths m/0/0,m/0/1 -amounts 40000000,30000000 \
	-out "$OUT/funding.hex" -utxos-out "$OUT/utxos.json" | tee "$OUT/funding.txt"
grep -q "m/0/0 *$deposit" "$OUT/funding.txt" || die "the funding transaction does not pay $deposit"

say "drafting the next policy version: wallet $wallet may pay only the cold storage address; 0.3 BTC or more needs 2 treasury approvals"
"$ctl" policy propose "${c[@]}" -wallet "$wallet" -network regtest -name "demo cold wallet" -wallet-role cold \
	-to "$COLD" -label "exchange cold storage" -max-amount 50000000 -daily-cap 100000000 -weekly-cap 300000000 \
	-max-fee 20000 -tier 30000000:2:treasury -originator "ledger=$LAB/ledger.key.pub" -o "$OUT/policy-next.json"

say "officers alice and bob review the change and sign it; then it is submitted to every node"
as_officer alice policy sign -yes "$OUT/policy-next.json" | tee "$OUT/policy-sign-alice.txt"
as_officer bob policy sign -yes "$OUT/policy-next.json" >"$OUT/policy-sign-bob.txt"
tail -n 2 "$OUT/policy-sign-bob.txt"
as_officer alice policy submit -yes "$OUT/policy-next.json"

id="wd-$(date +%Y%m%d-%H%M%S)"
say "building withdrawal $id: 0.25 BTC to the cold storage address"
"$ctl" withdraw build "${c[@]}" -wallet "$wallet" -id "$id" -network regtest -to "$COLD" -amount 25000000 \
	-fee-cap 10000 -fee-rate 5 -utxos "$OUT/utxos.json" -out "$OUT/withdrawal.psbt" -intent-out "$OUT/intent.json"

say "submitting it, signed by the exchange's ledger, and following it until it is signed (below the approval tier)"
"$ctl" withdraw submit "${c[@]}" -intent "$OUT/intent.json" -psbt "$OUT/withdrawal.psbt" -follow \
	-originator-key "$LAB/ledger.key" -signed-out "$OUT/signed.hex" -yes | tee "$OUT/withdrawal.txt"
txid=$(sed -n '/ is signed$/,$ s/^  txid  *\([0-9a-f]\{64\}\)$/\1/p' "$OUT/withdrawal.txt")
[[ -n $txid ]] || die "no txid in the output"

big="$id-large"
say "a larger withdrawal, $big: 0.45 BTC, from a second fabricated coin"
"$ctl" fund "${c[@]}" -wallet "$wallet" -network regtest -paths m/0/2 -amounts 50000000 \
	-out "$OUT/funding-2.hex" -utxos-out "$OUT/utxos-2.json" >/dev/null
"$ctl" withdraw build "${c[@]}" -wallet "$wallet" -id "$big" -network regtest -to "$COLD" -amount 45000000 \
	-fee-cap 10000 -fee-rate 5 -utxos "$OUT/utxos-2.json" -out "$OUT/large.psbt" -intent-out "$OUT/large-intent.json" >/dev/null
"$ctl" withdraw submit "${c[@]}" -intent "$OUT/large-intent.json" -psbt "$OUT/large.psbt" -originator-key "$LAB/ledger.key" -yes |
	tee "$OUT/large-submit.txt"
grep -q AWAITING_APPROVAL "$OUT/large-submit.txt" || die "$big does not wait for approval"

say "the officers' queue"
as_officer alice pending

say "alice reviews $big on her own machine: fetched raw, re-derived and checked here"
as_officer alice show "$big" | tee "$OUT/officer-show.txt"

say "alice and bob approve it; at the second approval it is signed without anyone else acting"
as_officer alice approve -yes "$big" | tee "$OUT/approve-alice.txt"
as_officer bob approve -yes "$big" | tee "$OUT/approve-bob.txt"
"$ctl" withdraw watch "$big" "${c[@]}" | tee "$OUT/large-watch.txt"
grep -q SIGNED "$OUT/large-watch.txt" || die "$big was not signed"

# expect_refusal RULE LABEL ARGS...: submits, shows the refusal, and checks
# that it names RULE.
expect_refusal() {
	local rule=$1 file=$OUT/refusal-$2.txt code
	shift 2
	set +e
	"$ctl" withdraw submit "${c[@]}" "$@" -yes >"$file" 2>&1
	code=$?
	set -e
	cat "$file"
	[[ $code == 1 ]] || die "the cluster did not refuse it (exit code $code)"
	grep -q "$rule" "$file" || die "the refusal does not name $rule"
}

say "DMM Bitcoin: the same withdrawal, its destination swapped for the attacker's address by the middleware, under a new id"
"$ctl" withdraw build "${c[@]}" -wallet "$wallet" -id "$id-swapped" -network regtest -to "$ATTACKER" -amount 25000000 \
	-fee-cap 10000 -fee-rate 5 -utxos "$OUT/utxos.json" -out "$OUT/swapped.psbt" -intent-out "$OUT/swapped-intent.json" >/dev/null
expect_refusal policy.intent_unsigned unsigned -intent "$OUT/swapped-intent.json" -psbt "$OUT/swapped.psbt"

say "... even signed by the ledger itself, the destination is not on the cold wallet's allowlist"
sed "s/\"$id-swapped\"/\"$id-swapped-2\"/" "$OUT/swapped-intent.json" >"$OUT/swapped-2-intent.json"
expect_refusal policy.destination_not_allowed destination -intent "$OUT/swapped-2-intent.json" -psbt "$OUT/swapped.psbt" \
	-originator-key "$LAB/ledger.key"

say "... and the swapped transaction under the signed withdrawal's own id $id"
sed "s/\"$id-swapped\"/\"$id\"/" "$OUT/swapped-intent.json" >"$OUT/reused-intent.json"
expect_refusal withdrawal.id_reused id-reused -intent "$OUT/reused-intent.json" -psbt "$OUT/swapped.psbt" -node node-2 \
	-originator-key "$LAB/ledger.key"

say "the withdrawals as node-1 knows them"
"$ctl" withdraw list "${c[@]}" -wallet "$wallet"

# --- Ethereum (begin: withdrawals) ---
# Sepolia addresses: the exchange's cold storage, the one destination the
# policy allows; USDC's contract, a name in the policy's token registry
# here; and the Safe the second wallet's key is an owner of.
ETH_NET=sepolia
ETH_DEST=0x52908400098527886E0F7030069857D2E4169EE7
ETH_USDC=0x1c7D4B196Cb0C7B01d743Fbc6116a902379C7238
ETH_SAFE=0xde0B295669a9FD93d5F28D9Ec85E40f4cb697BAe
if [[ -n $eth_keygen ]]; then
	say "Ethereum: waiting for the two wallets' key generations"
	if ! wait "$eth_keygen"; then
		tail -n 5 "$ETH_OUT"/wallet-*.log >&2
		die "an Ethereum wallet's key generation failed; its progress is in $ETH_OUT/wallet-*.log"
	fi
	trap stop_cluster EXIT
	grep -h '^\[' "$ETH_OUT"/wallet-*.log | tail -n 2
	eth_account=$(sed -n 's/^ *"wallet_id": *"\([^"]*\)".*/\1/p' "$ETH_OUT/wallet-account.json")
	eth_owner=$(sed -n 's/^ *"wallet_id": *"\([^"]*\)".*/\1/p' "$ETH_OUT/wallet-safe-owner.json")
	[[ -n $eth_account && -n $eth_owner ]] || die "no wallet ids in $ETH_OUT/wallet-*.json"
	printf 'account=%s\nsafe_owner=%s\n' "$eth_account" "$eth_owner" >"$ETH_WALLETS"
fi

say "Ethereum: the account's address m/0/0 on $ETH_NET (EIP-55), on every node, and the Safe owner's"
eth_address=""
for node in "${NODES[@]}"; do
	got=$("$ctl" address "${c[@]}" -node "$node" -chain ethereum -network "$ETH_NET" -wallet "$eth_account" -index 0 -json |
		sed -n 's/^ *"address": *"\([^"]*\)".*/\1/p')
	printf '  %-8s %s\n' "$node" "$got"
	if [[ -z $eth_address ]]; then
		eth_address=$got
	elif [[ $got != "$eth_address" ]]; then
		die "$node derives $got, node-1 $eth_address: the nodes disagree"
	fi
done
echo "$eth_address" >"$ETH_OUT/address.txt"
"$ctl" address "${c[@]}" -chain ethereum -network "$ETH_NET" -wallet "$eth_owner" -index 0 -json |
	sed -n 's/^ *"address": *"\([^"]*\)".*/\1/p' >"$ETH_OUT/safe-owner-address.txt"
printf '  %-8s %s (owner of Safe %s)\n' "owner" "$(cat "$ETH_OUT/safe-owner-address.txt")" "$ETH_SAFE"

say "Ethereum: drafting one policy version with both wallets' rules: cold storage only, ETH and USDC, USDC from 100 needs 2 treasury approvals; the owner's Safe v1.3.0"
eth_policy=$ETH_OUT/policy-eth.json
"$ctl" policy propose "${c[@]}" -wallet "$eth_account" -chain ethereum -network "$ETH_NET" -name "demo eth account" -wallet-role hot \
	-to "$ETH_DEST" -label "exchange cold storage" -token "USDC=$ETH_USDC:6" -first-nonce 0 -max-gas-limit 100000 \
	-cap ETH=5000000000000000000:100000000000000000000:500000000000000000000 -cap USDC=1000000000:20000000000:100000000000 \
	-max-fee 10000000000000000 -tier USDC=100000000:2:treasury -originator "ledger=$LAB/ledger.key.pub" -o "$eth_policy" >"$ETH_OUT/policy-propose.txt"
"$ctl" policy propose "${c[@]}" -amend "$eth_policy" -wallet "$eth_owner" -chain ethereum -network "$ETH_NET" -name "demo safe owner" -wallet-role hot \
	-to "$ETH_DEST" -label "exchange cold storage" -safe "$ETH_SAFE" -safe-version 1.3.0 -safe-first-nonce 0 -max-safe-tx-gas 50000 \
	-cap ETH=5000000000000000000:100000000000000000000:500000000000000000000 -max-fee 10000000000000000 \
	-originator "ledger=$LAB/ledger.key.pub" -o "$eth_policy" | tee -a "$ETH_OUT/policy-propose.txt"
as_officer alice policy sign -yes "$eth_policy" | tee "$ETH_OUT/policy-sign-alice.txt"
as_officer bob policy sign -yes "$eth_policy" >"$ETH_OUT/policy-sign-bob.txt"
tail -n 2 "$ETH_OUT/policy-sign-bob.txt"
as_officer alice policy submit -yes "$eth_policy"

# eth_next_nonce WALLET: the next nonce of the wallet's account (or Safe)
# that no withdrawal holds, as node-1 knows it: one past the highest a
# signed one holds, and the policy's first nonce, 0, if none does.
eth_next_nonce() {
	"$ctl" withdraw list "${c[@]}" -wallet "$1" -limit 1000 -json |
		awk '/"status":/ { s = $2 } /"nonce": [0-9]+/ { n = $2 + 0; if (s ~ /"SIGNED"/ && n + 1 > nx) nx = n + 1 } END { print nx + 0 }'
}
nonce=$(eth_next_nonce "$eth_account")
safe_nonce=$(eth_next_nonce "$eth_owner")
eth_ledger=(-originator-key "$LAB/ledger.key")
# eth_build ID ARGS...: builds an Ethereum withdrawal into $ETH_OUT/ID.tx and ID.intent.json.
eth_build() {
	local wid=$1
	shift
	"$ctl" withdraw build "${c[@]}" -chain ethereum -id "$wid" -to "$ETH_DEST" -fee-cap 5000000000000000 \
		-out "$ETH_OUT/$wid.tx" -intent-out "$ETH_OUT/$wid.intent.json" "$@"
}
# eth_hex FILE: a file's bytes in hex, on one line.
eth_hex() { od -An -v -tx1 "$1" | tr -d ' \n'; }

eth_id="$id-eth"
say "Ethereum: $eth_id, 0.25 ETH from the account at nonce $nonce (EIP-1559, at most 30 gwei a gas), signed by the ledger"
eth_build "$eth_id" -wallet "$eth_account" -amount 250000000000000000 -nonce "$nonce" -max-fee-per-gas 30000000000
"$ctl" withdraw submit "${c[@]}" -intent "$ETH_OUT/$eth_id.intent.json" -tx "$ETH_OUT/$eth_id.tx" -follow "${eth_ledger[@]}" \
	-signed-out "$ETH_OUT/$eth_id.signed.hex" -yes | tee "$ETH_OUT/$eth_id.txt"
grep -q '^  tx hash  *0x[0-9a-f]\{64\}$' "$ETH_OUT/$eth_id.txt" || die "no tx hash for $eth_id"

usdc_id="$id-usdc"
say "Ethereum: $usdc_id, 25 USDC (ERC-20 transfer) at nonce $((nonce + 1))"
eth_build "$usdc_id" -wallet "$eth_account" -asset USDC -amount 25000000 -nonce "$((nonce + 1))" -max-fee-per-gas 30000000000 >/dev/null
"$ctl" withdraw submit "${c[@]}" -intent "$ETH_OUT/$usdc_id.intent.json" -tx "$ETH_OUT/$usdc_id.tx" -follow "${eth_ledger[@]}" \
	-signed-out "$ETH_OUT/$usdc_id.signed.hex" -yes | tee "$ETH_OUT/$usdc_id.txt"

safe_id="$id-safe"
say "Ethereum: $safe_id, 0.5 ETH out of Safe $ETH_SAFE at Safe nonce $safe_nonce: the nodes compute the SafeTx hash and sign it as the owner"
eth_build "$safe_id" -wallet "$eth_owner" -amount 500000000000000000 -nonce "$safe_nonce" >/dev/null
"$ctl" withdraw submit "${c[@]}" -intent "$ETH_OUT/$safe_id.intent.json" -tx "$ETH_OUT/$safe_id.tx" -follow "${eth_ledger[@]}" \
	-signed-out "$ETH_OUT/$safe_id.safe-signature.hex" -yes | tee "$ETH_OUT/$safe_id.txt"

bybit_id="$id-bybit"
say "Bybit (2025): the Safe's next transfer, its operation swapped for 1, DELEGATECALL, which runs the target's code as the Safe"
eth_build "$bybit_id" -wallet "$eth_owner" -amount 500000000000000000 -nonce "$((safe_nonce + 1))" >/dev/null
# In the SafeTx's RLP, after "to" and the value (0.5 ETH, 8 bytes) come the
# data (empty: 80) and the operation (0: 80).
call="94$(tr 'A-F' 'a-f' <<<"${ETH_DEST#0x}")88$(printf '%016x' 500000000000000000)80"
tx=$(eth_hex "$ETH_OUT/$bybit_id.tx")
[[ $tx == *"${call}80"* ]] || die "the SafeTx of $bybit_id does not read as expected"
echo "${tx/${call}80/${call}01}" >"$ETH_OUT/$bybit_id.delegatecall.hex"
expect_refusal safe.operation eth-bybit -intent "$ETH_OUT/$bybit_id.intent.json" -tx "$ETH_OUT/$bybit_id.delegatecall.hex" "${eth_ledger[@]}"
mv "$OUT/refusal-eth-bybit.txt" "$ETH_OUT/refusal-bybit.txt"

approve_id="$id-approve"
say "Radiant Capital (2024): a USDC transfer the ledger signed, its calldata's selector swapped for approve(), at nonce $((nonce + 2))"
eth_build "$approve_id" -wallet "$eth_account" -asset USDC -amount 25000000 -nonce "$((nonce + 2))" -max-fee-per-gas 30000000000 >/dev/null
tx=$(eth_hex "$ETH_OUT/$approve_id.tx")
[[ $tx == *a9059cbb000000000000000000000000* ]] || die "the transaction of $approve_id has no transfer calldata"
echo "${tx/a9059cbb000000000000000000000000/095ea7b3000000000000000000000000}" >"$ETH_OUT/$approve_id.approve.hex"
expect_refusal data.selector eth-approve -intent "$ETH_OUT/$approve_id.intent.json" -tx "$ETH_OUT/$approve_id.approve.hex" "${eth_ledger[@]}"
mv "$OUT/refusal-eth-approve.txt" "$ETH_OUT/refusal-approve.txt"

say "the Ethereum withdrawals as node-1 knows them"
"$ctl" withdraw list "${c[@]}" -wallet "$eth_account" -limit 5
"$ctl" withdraw list "${c[@]}" -wallet "$eth_owner" -limit 3
if [[ -n $eth_keygen ]]; then
	# The two key generations took the sets the next run's Bitcoin wallet
	# would have used; a set not finished is lost when the cluster stops.
	say "letting every node finish the next run's pre-parameter set, which the Ethereum wallets' key generations took"
	"$ctl" pool wait "${c[@]}" -min 1 -timeout 5m 2>/dev/null ||
		echo "not every node finished: the next run waits for the rest"
fi
# --- Ethereum (end: withdrawals) ---

# The nodes have been generating the next set since the key generation took
# theirs. Give them until the run's end budget to finish it, so that the
# next run starts at once; a set not finished is lost when the cluster stops.
budget=$((REFILL_UNTIL - (SECONDS - start)))
if ((budget >= 5)); then
	say "letting the nodes finish the next run's pre-parameters (at most ${budget}s more)"
	"$ctl" pool wait "${c[@]}" -min 1 -timeout "${budget}s" 2>/dev/null ||
		echo "not every node finished: the next run waits for the rest"
else
	say "pre-parameters left for the next run"
	"$ctl" status "${c[@]}" -all | grep -E '^(node-|  pool)'
fi

say "stopping the cluster, and copying each node's bbolt file"
stop_cluster
trap - EXIT
tail -n 1 "$OUT/cluster.log"
for node in "${NODES[@]}"; do
	cp "$CLUSTER/nodes/$node/data/node.db" "$OUT/$node.db"
done

auditor=bin/auditor
dbs=("$OUT/node-1.db" "$OUT/node-2.db" "$OUT/node-3.db")
say "an auditor checks the three logs: hash chains and signatures, then every decision replayed"
"$auditor" verify -ca "$CLUSTER/ca.pem" "${dbs[@]}" | tee "$OUT/audit-verify.txt"
"$auditor" cross-check "${dbs[@]}" | tee "$OUT/audit-cross-check.txt"
"$auditor" replay "${dbs[@]}" | tee "$OUT/audit-replay.txt"
"$auditor" report -html "$OUT/audit-report.html" "${dbs[@]}" >"$OUT/audit-report.txt"

printf '\nDone in %ds. In %s/:\n' "$((SECONDS - start))" "$OUT"
printf '  %-25s %s\n' \
	"funding.hex" "the fabricated funding transaction (regtest, broadcast nowhere)" \
	"utxos.json" "its two coins, as 'withdraw build -utxos' reads them" \
	"policy-next.json(.sigs)" "the policy version officers alice and bob signed" \
	"intent.json" "withdrawal $id: 0.25 BTC to $COLD" \
	"withdrawal.psbt" "its unsigned transaction (PSBT)" \
	"signed.hex" "the signed transaction, txid $txid" \
	"large-*, approve-*" "withdrawal $big: 0.45 BTC, approved by alice and bob" \
	"officer-show.txt" "what alice saw when she reviewed it" \
	"swapped.psbt" "the same withdrawal paying $ATTACKER: refused three times" \
	"refusal-*.txt" "the refusals: policy.intent_unsigned, policy.destination_not_allowed, withdrawal.id_reused" \
	"node-{1,2,3}.db" "each node's bbolt file: wallet, withdrawals, audit log" \
	"audit-*" "the auditor's verify, cross-check, replay and report (report.html)" \
	"cluster.log" "the nodes' logs"
# --- Ethereum (begin: files) ---
printf '  %-25s %s\n' \
	"eth/address.txt" "the Ethereum account's address, m/0/0 on $ETH_NET: $eth_address" \
	"eth/policy-eth.json(.sigs)" "the policy version with both Ethereum wallets, signed by alice and bob" \
	"eth/$eth_id.signed.hex" "0.25 ETH: the signed EIP-1559 transaction (EIP-2718 bytes, hex)" \
	"eth/$usdc_id.signed.hex" "25 USDC: the signed ERC-20 transfer" \
	"eth/$safe_id.safe-signature.hex" "0.5 ETH from Safe $ETH_SAFE: the owner's 65-byte signature" \
	"eth/*.tx, eth/*.intent.json" "each withdrawal's unsigned transaction (raw) and intent" \
	"eth/refusal-*.txt" "the Bybit SafeTx (safe.operation) and the approve() (data.selector), refused"
# --- Ethereum (end: files) ---
cat <<EOF

Run it yourself:
  $signerd dev -dir $CLUSTER
  $ctl withdraw list -cluster $CLUSTER
  $ctl withdraw show $id -cluster $CLUSTER
  $officer -cluster $CLUSTER -key $LAB/carol.key policy show
EOF
