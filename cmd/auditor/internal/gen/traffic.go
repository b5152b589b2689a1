package gen

import (
	"container/heap"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	mrand "math/rand/v2"
	"slices"
	"sync/atomic"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	btcecdsa "github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/countersign/countersign/policy"
	"github.com/countersign/countersign/policy/bitcoin"
	"github.com/countersign/countersign/policy/chain"
	"github.com/countersign/countersign/policy/keys"
	"github.com/countersign/countersign/policy/policytest"
	"github.com/countersign/countersign/signer/audit"
)

// The traffic's shape. Shares are out of 1000 withdrawals.
const (
	shareOffAllowlist = 40 // to an address not on the allowlist: refused
	shareOverCap      = 10 // over the per-withdrawal cap: refused
	shareLarge        = 55 // at or above the approval tier: officers approve
	shareCallRefused  = 5  // a refused call instead of a withdrawal
	shareAbort        = 10 // sessions that abort, and the withdrawal fails
	allowlistSize     = 24 // destinations of the second bundle; the third adds 2
	receiveKeys       = 256
	feeCapSat         = 50_000
	maxFeeSat         = 100_000
	maxAmountSat      = 200_000_000 // 2 BTC
	tierMinSat        = 50_000_000  // 0.5 BTC: 2 of treasury
	recordsPerArrival = 5.6         // about, to spread Records over Days
	approvalLifetime  = 24 * time.Hour
	cluster           = "gen"
)

// item is one record to write, in order: its body is given, or is part
// of a withdrawal the pool is working on.
type item struct {
	kind audit.Kind
	at   time.Time
	body []byte
	w    *withdrawal
	part int // partReceived...; partApproval+i for approval i
}

const (
	partReceived = iota
	partDecided
	partEnded
	partSigned
	partClosing // withdrawal.approved or .rejected
	partApproval
)

func (it item) bytes() ([]byte, error) {
	if it.w == nil {
		return it.body, nil
	}
	<-it.w.done
	if it.w.err != nil {
		return nil, it.w.err
	}
	return it.w.bodies[it.part], nil
}

// traffic plans the log in time order.
type traffic struct {
	o    Options
	st   *Stats
	rnd  *mrand.Rand
	jobs chan<- func()
	stop *atomic.Bool

	cert    []byte
	wallet  walletKeys
	bundles []acceptedBundle // in the order they are accepted
	current *policy.Bundle
	caps    btcCaps  // the wallet's BTC caps in the bundle in force
	allow   []string // allowlisted addresses of the bundle in force
	vsize   [4]int64 // virtual size of a withdrawal of 1..3 inputs, with change: its fee is rate × vsize
	gap     float64  // mean time between arrivals, in ns

	events  events
	order   uint64
	emitted uint64
	last    time.Time
	spends  []spend // the wallet's allowed withdrawals of the last 7 days, not failed nor rejected
	peerSeq map[string]uint64
	n       uint64 // withdrawals so far
}

// walletKeys is the generated wallet: its root, the root's private key,
// and receive scripts of its first keys.
type walletKeys struct {
	id      string
	key     bitcoin.Key
	priv    btcec.ModNScalar
	receive [][]byte // P2WPKH script of m/0/i
}

type acceptedBundle struct {
	b      *policy.Bundle
	body   []byte // its policy.accepted record
	caps   btcCaps
	allow  []string
	at     time.Time
	signed []string
}

// btcCaps are a wallet's BTC limits, in satoshis, as the planner counts.
type btcCaps struct {
	maxAmount, daily, weekly int64
}

// sat is a number of satoshis as an amount.
func sat(v int64) chain.Amount { return chain.AmountOf(uint64(v)) }

// satsOf is an amount of satoshis the planner set, back as a number.
func satsOf(a chain.Amount) int64 {
	v, _ := a.Int64()
	return v
}

type spend struct {
	id      string
	at      time.Time
	outflow int64 // satoshis: the wallet pays BTC only
}

func newTraffic(o Options, certDER []byte, st *Stats) (*traffic, error) {
	t := &traffic{o: o, st: st, rnd: mrand.New(mrand.NewPCG(o.Seed, 0x5eed)), cert: certDER, peerSeq: map[string]uint64{}, last: o.Start}
	var sk [32]byte
	t.fill(sk[:])
	t.wallet.priv.SetBytes(&sk)
	if t.wallet.priv.IsZero() {
		t.wallet.priv.SetInt(1)
	}
	priv := btcec.PrivKeyFromScalar(&t.wallet.priv)
	t.wallet.key.PublicKey = [33]byte(priv.PubKey().SerializeCompressed())
	t.fill(t.wallet.key.ChainCode[:])
	t.wallet.id = "w-" + t.hex(8)
	st.Wallets[t.wallet.id] = t.wallet.key
	for i := range uint32(receiveKeys) {
		c, err := t.wallet.key.Derive(bitcoin.ReceivePath(i))
		if err != nil {
			return nil, fmt.Errorf("gen: wallet key m/0/%d: %w", i, err) // 2^-127: not with this seed
		}
		t.wallet.receive = append(t.wallet.receive, bitcoin.P2WPKHScript(c.PublicKey))
	}
	if err := t.sizes(); err != nil {
		return nil, err
	}
	if err := t.policies(); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *traffic) fill(b []byte) {
	for i := range b {
		b[i] = byte(t.rnd.Uint32())
	}
}

func (t *traffic) hex(n int) string {
	b := make([]byte, n)
	t.fill(b)
	return hex.EncodeToString(b)
}

// address returns a made-up mainnet P2WPKH address.
func (t *traffic) address() string {
	var h [20]byte
	t.fill(h[:])
	a, err := btcutil.NewAddressWitnessPubKeyHash(h[:], &chaincfg.MainNetParams)
	if err != nil {
		panic(err) // 20 bytes: cannot fail
	}
	return a.EncodeAddress()
}

// sizes measures the virtual size of withdrawals of 1 to 3 inputs to a
// P2WPKH address with change, so that the planner knows each fee.
func (t *traffic) sizes() error {
	for n := 1; n <= 3; n++ {
		in := bitcoin.Intent{WithdrawalID: "size", WalletID: t.wallet.id, Network: bitcoin.Mainnet, Asset: bitcoin.Asset,
			Destination: t.address(), Amount: 100_000, FeeCap: bitcoin.MaxSatoshi}
		psbt, err := bitcoin.BuildWithdrawal(in, t.wallet.key, t.utxos(t.rnd, n, in.Amount), 0, 1)
		if err != nil {
			return fmt.Errorf("gen: sizing a withdrawal: %w", err)
		}
		w, err := bitcoin.Rederive(in, psbt, t.wallet.key, bitcoin.Limits{MaxFee: bitcoin.MaxSatoshi, MaxInputs: 3, MaxOutputs: 2, ChangeIndexMax: 1})
		if err != nil {
			return fmt.Errorf("gen: sizing a withdrawal: %w", err)
		}
		t.vsize[n] = w.Fee // at 1 sat/vB
	}
	return nil
}

// utxos makes up n coins of the wallet that cover amount and any fee.
func (t *traffic) utxos(rnd *mrand.Rand, n int, amount int64) []bitcoin.UTXO {
	out := make([]bitcoin.UTXO, n)
	for i := range out {
		k := uint32(rnd.IntN(receiveKeys))
		prev := wire.NewMsgTx(2)
		var h chainhash.Hash
		for j := range h {
			h[j] = byte(rnd.Uint32())
		}
		prev.AddTxIn(&wire.TxIn{PreviousOutPoint: wire.OutPoint{Hash: h, Index: rnd.Uint32N(4)}, Sequence: bitcoin.SequenceFinal})
		value := amount/int64(n) + 200_000 + rnd.Int64N(5_000_000)
		idx := uint32(rnd.IntN(2))
		if idx == 1 { // the coin is the change of someone's payment
			prev.AddTxOut(wire.NewTxOut(10_000+rnd.Int64N(100_000_000), t.wallet.receive[(k+1)%receiveKeys]))
		}
		prev.AddTxOut(wire.NewTxOut(value, t.wallet.receive[k]))
		out[i] = bitcoin.UTXO{PrevTx: prev, Index: idx, Path: bitcoin.ReceivePath(k)}
	}
	return out
}

// policies prepares the three bundles: the genesis one (the policytest
// officers, signed by two of them), the one that adds the wallet, and a
// later one that raises its caps and extends its allowlist.
func (t *traffic) policies() error {
	days := float64(t.o.Days) * 0.97
	arrivals := float64(t.o.Records) / recordsPerArrival
	t.gap = days * float64(24*time.Hour) / max(arrivals, 1)
	perDay := arrivals / days * meanOutflow()
	daily := max(int64(maxAmountSat), int64(1.15*perDay))
	weekly := max(daily, int64(7.3*perDay))

	allow := make([]string, allowlistSize+2)
	for i := range allow {
		allow[i] = t.address()
	}
	g := policytest.Genesis(cluster)
	v2 := g
	v2.Version, v2.Description = 2, "wallet "+t.wallet.id+": hot wallet of the exchange"
	// Format 2, as an officer writes a bundle today: the chain, BTC's caps
	// in satoshis as decimal strings, the fee cap, the tier's asset.
	rules := &policy.WalletRules{Name: "hot", Chain: bitcoin.Name, Network: string(bitcoin.Mainnet), Role: policy.RoleHot,
		Assets:        []policy.AssetLimits{{Asset: bitcoin.Asset, MaxAmount: sat(maxAmountSat), DailyCap: sat(daily), WeeklyCap: sat(weekly)}},
		MaxFee:        sat(maxFeeSat),
		ApprovalTiers: []policy.Tier{{Asset: bitcoin.Asset, MinAmount: sat(tierMinSat), Approvals: 2, Group: "treasury"}},
		Originators:   []policy.Originator{policytest.Ledger.Originator()}}
	for i, a := range allow[:allowlistSize] {
		rules.Destinations = append(rules.Destinations, policy.Destination{Address: a, Label: fmt.Sprintf("exchange-%02d", i+1)})
	}
	v2.Wallets = map[string]*policy.WalletRules{t.wallet.id: rules}
	v3 := v2
	v3.Version, v3.Description = 3, "wallet "+t.wallet.id+": caps up 10%, two more destinations"
	r3 := *rules
	r3.Assets = []policy.AssetLimits{{Asset: bitcoin.Asset, MaxAmount: sat(maxAmountSat), DailyCap: sat(daily * 11 / 10), WeeklyCap: sat(weekly * 11 / 10)}}
	r3.Destinations = slices.Clone(rules.Destinations)
	for i, a := range allow[allowlistSize:] {
		r3.Destinations = append(r3.Destinations, policy.Destination{Address: a, Label: fmt.Sprintf("otc-desk-%d", i+1)})
	}
	v3.Wallets = map[string]*policy.WalletRules{t.wallet.id: &r3}

	span := time.Duration(t.o.Days) * 24 * time.Hour
	var prev *policy.Bundle
	for i, spec := range []struct {
		b     policy.Bundle
		by    []policytest.Party
		at    time.Duration
		allow []string
	}{
		{g, []policytest.Party{policytest.Alice, policytest.Bob}, 0, nil},
		{v2, []policytest.Party{policytest.Alice, policytest.Carol}, 30 * time.Minute, allow[:allowlistSize]},
		{v3, []policytest.Party{policytest.Bob, policytest.Carol}, span / 2, allow},
	} {
		raw, err := json.MarshalIndent(spec.b, "", "  ")
		if err != nil {
			return err
		}
		raw = append(raw, '\n')
		var sigs []policy.Signature
		for _, p := range spec.by {
			s, err := p.Signer.Sign(keys.NamespacePolicy, raw)
			if err != nil {
				return err
			}
			sigs = append(sigs, policy.Signature{Officer: p.Name, Signature: string(s)})
		}
		var b *policy.Bundle
		var signedBy []string
		from := "officer " + spec.by[0].Name
		if prev == nil {
			b, err = policy.AcceptGenesis(raw, sigs)
			for _, s := range sigs {
				signedBy = append(signedBy, s.Officer)
			}
			from = "genesis"
		} else {
			b, signedBy, err = policy.Accept(prev, raw, sigs)
		}
		if err != nil {
			return fmt.Errorf("gen: bundle version %d: %w", spec.b.Version, err)
		}
		h := b.Hash()
		body := audit.PolicyAccepted{Version: b.Version, Hash: hex.EncodeToString(h[:]), Bundle: b.Raw(), SignedBy: signedBy, From: from}
		for _, s := range sigs {
			body.Signatures = append(body.Signatures, audit.PolicySignature{Officer: s.Officer, Signature: s.Signature})
		}
		if prev != nil {
			ph := prev.Hash()
			body.Previous = hex.EncodeToString(ph[:])
		}
		ab := acceptedBundle{b: b, body: mustBody(body), at: t.o.Start.Add(spec.at + time.Duration(i)*time.Second), signed: signedBy, allow: spec.allow}
		if w := b.Wallets[t.wallet.id]; w != nil {
			l := w.Limits(bitcoin.Asset)
			ab.caps = btcCaps{maxAmount: satsOf(l.MaxAmount), daily: satsOf(l.DailyCap), weekly: satsOf(l.WeeklyCap)}
		}
		t.bundles = append(t.bundles, ab)
		prev = b
	}
	return nil
}

// meanOutflow is the mean amount of a withdrawal allowed by the rules,
// before caps: what the caps are set from.
func meanOutflow() float64 {
	const lo, hi = normalMin, normalMax
	normal := float64(hi-lo) / math.Log(float64(hi)/float64(lo))
	large := float64(largeMin+largeMax) / 2
	n := 1000 - shareOffAllowlist - shareOverCap - shareCallRefused
	return (float64(n-shareLarge)*normal + shareLarge*large) / float64(n)
}

// Amounts, in satoshis: most log-uniform between normalMin and normalMax,
// the large ones uniform between largeMin and largeMax, the refused ones
// over the cap uniform up to overCapMax.
const (
	normalMin  = 20_000
	normalMax  = 40_000_000
	largeMin   = tierMinSat
	largeMax   = 180_000_000
	overCapMax = 600_000_000
)

func mustBody(v any) []byte {
	b, err := audit.Body(v)
	if err != nil {
		panic(err) // plain structs of bounded size: cannot fail
	}
	return b
}

// withdrawal is one withdrawal as the planner decided it, and, once done
// is closed, its records' bodies as the pool made them.
type withdrawal struct {
	// planned (read-only once handed to the pool)
	id, dest, requestedBy string
	amount, fee, outflow  int64
	inputs                int
	feeRate               int64
	changeIndex           uint32
	seed                  uint64
	at                    time.Time
	bundle                *policy.Bundle
	spentDay, spentWeek   int64 // satoshis, as the node counts them
	allowed               bool
	rule                  string
	tier                  bool
	approvals             []plannedApproval
	rejected              bool // the approvals end in a rejection
	abort                 bool
	session, peer         string
	// made by the pool
	done   chan struct{}
	err    error
	bodies [][]byte
}

type plannedApproval struct {
	by      policytest.Party
	verdict string
	reason  string
	at      time.Time
	counted bool
}

type evKind int

const (
	evArrive evKind = iota
	evPolicy
	evSessionStart
	evSessionEnd
	evApproval
)

type event struct {
	at    time.Time
	order uint64 // ties keep the order of scheduling
	kind  evKind
	w     *withdrawal
	i     int
}

type events []*event

func (e events) Len() int { return len(e) }
func (e events) Less(i, j int) bool {
	if !e[i].at.Equal(e[j].at) {
		return e[i].at.Before(e[j].at)
	}
	return e[i].order < e[j].order
}
func (e events) Swap(i, j int) { e[i], e[j] = e[j], e[i] }
func (e *events) Push(x any)   { *e = append(*e, x.(*event)) }
func (e *events) Pop() any {
	old := *e
	x := old[len(old)-1]
	*e = old[:len(old)-1]
	return x
}

func (t *traffic) schedule(at time.Time, kind evKind, w *withdrawal, i int) {
	t.order++
	heap.Push(&t.events, &event{at: at, order: t.order, kind: kind, w: w, i: i})
}

// between returns a duration uniform in [lo, hi).
func (t *traffic) between(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(t.rnd.Int64N(int64(hi-lo)))
}

// run sends the log's records in order until Records are sent or stop
// is set.
func (t *traffic) run(items chan<- item) error {
	emit := func(kind audit.Kind, at time.Time, body []byte, w *withdrawal, part int) bool {
		if t.emitted >= t.o.Records || t.stop.Load() {
			return false
		}
		if at.Before(t.last) {
			at = t.last
		}
		t.last = at
		items <- item{kind: kind, at: at, body: body, w: w, part: part}
		t.emitted++
		return true
	}
	start := t.o.Start
	emit(audit.KindGenesis, start, mustBody(audit.Genesis{NodeID: t.o.Node, CertDER: t.cert, Format: audit.Version}), nil, 0)
	emit(audit.KindPolicyAccepted, t.bundles[0].at, t.bundles[0].body, nil, 0)
	t.current = t.bundles[0].b

	// The wallet's key generation, ten minutes in.
	at := start.Add(10 * time.Minute)
	sid := t.hex(32)
	nodes := []string{t.o.Node, "node-2", "node-3"}
	slices.Sort(nodes)
	emit(audit.KindSessionStarted, at, mustBody(audit.SessionStarted{SessionID: sid, Kind: audit.SessionKeygen, WalletID: t.wallet.id,
		Committee: nodes, Coordinator: t.o.Node, Purpose: "create wallet " + t.wallet.id}), nil, 0)
	for _, p := range nodes {
		if p != t.o.Node {
			t.peerSeq[p] += 3
			emit(audit.KindPeerHead, at.Add(200*time.Millisecond), mustBody(audit.PeerHead{Peer: p, Seq: t.peerSeq[p], Hash: t.hex(32), SessionID: sid}), nil, 0)
		}
	}
	emit(audit.KindSessionEnded, at.Add(40*time.Second), mustBody(audit.SessionEnded{SessionID: sid, Outcome: "key generated, awaiting commit"}), nil, 0)
	cch := audit.ChainCodeHash(t.wallet.key.ChainCode)
	emit(audit.KindWalletCreated, at.Add(41*time.Second), mustBody(audit.WalletCreated{WalletID: t.wallet.id, Label: "hot",
		PublicKey: hex.EncodeToString(t.wallet.key.PublicKey[:]), Threshold: 1, Nodes: nodes, SessionID: sid,
		ChainCodeHash: hex.EncodeToString(cch[:])}), nil, 0)

	for i := 1; i < len(t.bundles); i++ {
		t.schedule(t.bundles[i].at, evPolicy, nil, i)
	}
	t.schedule(start.Add(time.Hour), evArrive, nil, 0)
	for t.emitted < t.o.Records && !t.stop.Load() {
		e := heap.Pop(&t.events).(*event)
		w := e.w
		switch e.kind {
		case evPolicy:
			ab := t.bundles[e.i]
			emit(audit.KindPolicyAccepted, e.at, ab.body, nil, 0)
			t.current, t.caps, t.allow = ab.b, ab.caps, ab.allow
		case evArrive:
			t.arrive(e.at, emit)
		case evApproval:
			last := e.i == len(w.approvals)-1
			emit(audit.KindWithdrawalApproval, e.at, nil, w, partApproval+e.i)
			switch {
			case last && w.rejected:
				emit(audit.KindWithdrawalRejected, e.at, nil, w, partClosing)
				t.unspend(w.id)
			case last:
				emit(audit.KindWithdrawalApproved, e.at, nil, w, partClosing)
				t.schedule(e.at.Add(t.between(200*time.Millisecond, time.Second)), evSessionStart, w, 0)
			}
		case evSessionStart:
			peer := w.peer
			committee := []string{t.o.Node, peer}
			slices.Sort(committee)
			emit(audit.KindSessionStarted, e.at, mustBody(audit.SessionStarted{SessionID: w.session, Kind: audit.SessionSigning,
				WalletID: t.wallet.id, Committee: committee, Coordinator: t.o.Node, Purpose: "withdrawal " + w.id}), nil, 0)
			t.peerSeq[peer] += uint64(5 + t.rnd.IntN(5))
			emit(audit.KindPeerHead, e.at.Add(t.between(50*time.Millisecond, 300*time.Millisecond)),
				mustBody(audit.PeerHead{Peer: peer, Seq: t.peerSeq[peer], Hash: t.hex(32), SessionID: w.session}), nil, 0)
			if w.abort {
				t.schedule(e.at.Add(30*time.Second), evSessionEnd, w, 0)
			} else {
				t.schedule(e.at.Add(t.between(800*time.Millisecond, 3*time.Second)), evSessionEnd, w, 0)
			}
		case evSessionEnd:
			if w.abort {
				emit(audit.KindSessionAborted, e.at, mustBody(audit.SessionAborted{SessionID: w.session, Reason: "timed out waiting for " + w.peer,
					Culprits: []string{w.peer}}), nil, 0)
				emit(audit.KindWithdrawalFailed, e.at, mustBody(audit.WithdrawalFailed{WithdrawalID: w.id, Reason: "signing failed: timed out waiting for " + w.peer}), nil, 0)
				t.unspend(w.id)
				continue
			}
			emit(audit.KindSessionEnded, e.at, nil, w, partEnded)
			emit(audit.KindWithdrawalSigned, e.at, nil, w, partSigned)
		}
	}
	return nil
}

// arrive plans the withdrawal (or refused call) arriving at at, sends it
// to the pool, and emits its withdrawal.received and .decided.
func (t *traffic) arrive(at time.Time, emit func(audit.Kind, time.Time, []byte, *withdrawal, int) bool) {
	t.schedule(at.Add(time.Duration(t.rnd.ExpFloat64()*t.gap)), evArrive, nil, 0)
	if t.rnd.IntN(1000) < shareCallRefused {
		emit(audit.KindCallRefused, at, mustBody(audit.CallRefused{Caller: "backend", Role: "backend",
			Method: "/countersign.v1.WalletService/CreateWallet", Code: 7, Reason: "role backend may not call this"}), nil, 0)
		return
	}
	t.n++
	w := &withdrawal{id: fmt.Sprintf("wd-%d", t.n), at: at, bundle: t.current, seed: t.rnd.Uint64(), done: make(chan struct{}),
		session: t.hex(32), peer: "node-2"}
	if t.rnd.IntN(3) == 0 {
		w.peer = "node-3"
	}
	w.dest = t.allow[t.rnd.IntN(len(t.allow))]
	switch r := t.rnd.IntN(1000); {
	case r < shareOffAllowlist:
		w.dest, w.amount = t.address(), t.normal()
	case r < shareOffAllowlist+shareOverCap:
		w.amount = maxAmountSat + 1 + t.rnd.Int64N(overCapMax-maxAmountSat)
	case r < shareOffAllowlist+shareOverCap+shareLarge:
		w.amount = largeMin + t.rnd.Int64N(largeMax-largeMin)
	default:
		w.amount = t.normal()
	}
	switch r := t.rnd.IntN(10); {
	case r < 6:
		w.inputs = 1
	case r < 9:
		w.inputs = 2
	default:
		w.inputs = 3
	}
	w.feeRate = 2 + t.rnd.Int64N(30)
	w.fee = w.feeRate * t.vsize[w.inputs]
	w.outflow = w.amount + w.fee
	w.changeIndex = t.rnd.Uint32N(1000)
	w.spentDay, w.spentWeek = t.spent(at)
	w.abort = t.rnd.IntN(1000) < shareAbort

	// What Decide will say, in its order of rules.
	listed := slices.Contains(t.allow, w.dest)
	switch {
	case !listed:
		w.rule = policy.RuleDestinationNotAllowed
	case w.amount > t.caps.maxAmount:
		w.rule = policy.RuleAmountOverCap
	case w.spentDay+w.outflow > t.caps.daily:
		w.rule = policy.RuleDailyCapExceeded
	case w.spentWeek+w.outflow > t.caps.weekly:
		w.rule = policy.RuleWeeklyCapExceeded
	default:
		w.allowed = true
		w.tier = w.amount >= tierMinSat
	}
	if w.allowed {
		t.spends = append(t.spends, spend{w.id, at, w.outflow})
		if w.tier {
			t.planApprovals(w)
			t.schedule(w.approvals[0].at, evApproval, w, 0)
			for i := 1; i < len(w.approvals); i++ {
				t.schedule(w.approvals[i].at, evApproval, w, i)
			}
		} else {
			t.schedule(at.Add(t.between(100*time.Millisecond, 800*time.Millisecond)), evSessionStart, w, 0)
		}
	}
	job := func() {
		defer close(w.done)
		w.err = t.build(w)
	}
	t.jobs <- job
	if emit(audit.KindWithdrawalReceived, at, nil, w, partReceived) {
		t.st.Withdrawals++
		if !w.allowed {
			t.st.Refused[w.rule]++
		} else if w.tier {
			t.st.Approvals++
		}
	}
	emit(audit.KindWithdrawalDecided, at, nil, w, partDecided)
}

// normal is an everyday amount: log-uniform between normalMin and
// normalMax.
func (t *traffic) normal() int64 {
	return int64(normalMin * math.Exp(t.rnd.Float64()*math.Log(float64(normalMax)/normalMin)))
}

// planApprovals plans the officers' approvals of a withdrawal that needs
// 2 of treasury (alice, bob, carol): mostly two that count, sometimes
// one that does not count before them (by an outsider, by the officer
// who requested it, or an officer approving twice), sometimes a
// rejection.
func (t *traffic) planApprovals(w *withdrawal) {
	officers := []policytest.Party{policytest.Alice, policytest.Bob, policytest.Carol}
	if t.rnd.IntN(10) < 3 {
		w.requestedBy = officers[t.rnd.IntN(3)].Name
	}
	var others []policytest.Party
	var requester policytest.Party
	for _, o := range officers {
		if o.Name == w.requestedBy {
			requester = o
		} else {
			others = append(others, o)
		}
	}
	t.rnd.Shuffle(len(others), func(i, j int) { others[i], others[j] = others[j], others[i] })
	a, b := others[0], others[1]
	ok := func(p policytest.Party) plannedApproval {
		return plannedApproval{by: p, verdict: policy.VerdictApprove, reason: "checked against the ledger", counted: true}
	}
	nope := func(p policytest.Party) plannedApproval {
		return plannedApproval{by: p, verdict: policy.VerdictApprove, reason: "checked against the ledger"}
	}
	switch r := t.rnd.IntN(100); {
	case r < 5:
		w.approvals = []plannedApproval{nope(policytest.Mallory), ok(a), ok(b)}
	case r < 12:
		w.approvals = []plannedApproval{ok(a), nope(a), ok(b)}
	case r < 15:
		w.approvals = []plannedApproval{ok(a), {by: b, verdict: policy.VerdictReject, reason: "destination under review", counted: true}}
		w.rejected = true
	case r < 20 && w.requestedBy != "":
		w.approvals = []plannedApproval{nope(requester), ok(a), ok(b)}
	default:
		w.approvals = []plannedApproval{ok(a), ok(b)}
	}
	at := w.at
	for i := range w.approvals {
		if i == 0 {
			at = at.Add(t.between(2*time.Minute, 90*time.Minute))
		} else {
			at = at.Add(t.between(time.Minute, time.Hour))
		}
		w.approvals[i].at = at
	}
}

// spent is the wallet's velocity at now, in satoshis, as a node counts it
// (and replay recomputes it): allowed withdrawals decided in the windows,
// not rejected nor failed since.
func (t *traffic) spent(now time.Time) (dayTotal, weekTotal int64) {
	day, week := now.Add(-policy.Day), now.Add(-policy.Week)
	keep := t.spends[:0]
	for _, s := range t.spends {
		if s.at.Before(week) {
			continue
		}
		keep = append(keep, s)
		weekTotal += s.outflow
		if !s.at.Before(day) {
			dayTotal += s.outflow
		}
	}
	t.spends = keep
	return dayTotal, weekTotal
}

// velocity is what the node passes to Decide: BTC only, none if 0.
func velocity(day, week int64) policy.Velocity {
	var v policy.Velocity
	if day > 0 {
		v.Day = chain.Amounts{bitcoin.Asset: sat(day)}
	}
	if week > 0 {
		v.Week = chain.Amounts{bitcoin.Asset: sat(week)}
	}
	return v
}

func (t *traffic) unspend(id string) {
	t.spends = slices.DeleteFunc(t.spends, func(s spend) bool { return s.id == id })
}

// build makes a withdrawal's bodies, on the pool: its PSBT, the ledger's
// signature of its intent (version 2, as the node's backend sends it
// today), the node's decision (which must be the planner's), the
// officers' approvals, and the signatures of its inputs.
func (t *traffic) build(w *withdrawal) error {
	rnd := mrand.New(mrand.NewPCG(w.seed, 1))
	bin := bitcoin.Intent{WithdrawalID: w.id, WalletID: t.wallet.id, Network: bitcoin.Mainnet, Asset: bitcoin.Asset,
		Destination: w.dest, Amount: w.amount, FeeCap: feeCapSat, RequestedBy: w.requestedBy}
	psbt, err := bitcoin.BuildWithdrawal(bin, t.wallet.key, t.utxos(rnd, w.inputs, w.amount), w.changeIndex, w.feeRate)
	if err != nil {
		return fmt.Errorf("gen: withdrawal %s: %w", w.id, err)
	}
	in := bitcoin.NeutralIntent(bin)
	canonical := in.Canonical()
	sig, err := policytest.Ledger.Signer.Sign(keys.NamespaceIntent, canonical)
	if err != nil {
		return err
	}
	spent := velocity(w.spentDay, w.spentWeek)
	d := w.bundle.Decide(policy.Request{Intent: in, IntentSignature: sig, UnsignedTx: psbt, Wallet: bitcoin.NeutralKey(t.wallet.key),
		Spent: spent, Now: w.at})
	outflow := satsOf(d.Outflow[bitcoin.Asset])
	if d.Allowed != w.allowed || d.Rule != w.rule || (d.Allowed && (outflow != w.outflow || len(d.Outflow) != 1 || (d.Approval != nil) != w.tier)) {
		return fmt.Errorf("gen: withdrawal %s: the planner expected allowed %v (%s, outflow %d sat), Decide says %v (%s: %s, outflow %v)",
			w.id, w.allowed, w.rule, w.outflow, d.Allowed, d.Rule, d.Reason, d.Outflow)
	}
	w.bodies = make([][]byte, partApproval+len(w.approvals))

	// As the node's admit writes them.
	hash := policy.RequestHash(in, psbt)
	w.bodies[partReceived] = mustBody(audit.WithdrawalReceived{WithdrawalID: w.id, RequestHash: hex.EncodeToString(hash[:]), Intent: canonical,
		UnsignedTx: psbt, From: "backend", IntentSignature: string(sig)})
	w.bodies[partDecided] = mustBody(audit.Decided(w.id, hash, d, spent, w.at))
	if !d.Allowed {
		return nil
	}
	if err := t.approve(w, d, hash); err != nil {
		return err
	}
	if w.rejected || w.abort {
		return nil
	}

	// The signatures the committee would make: by each input's child key,
	// the wallet's root private key plus the input's tweak.
	sigs := make([][64]byte, len(d.Tx.Sign))
	hexSigs := make([]string, len(sigs))
	for i, item := range d.Tx.Sign {
		var k, tweak btcec.ModNScalar
		k.Set(&t.wallet.priv)
		if tweak.SetBytes(&item.Tweak) != 0 {
			return fmt.Errorf("gen: withdrawal %s input %d: tweak not below the curve order", w.id, i)
		}
		k.Add(&tweak)
		compact := btcecdsa.SignCompact(btcec.PrivKeyFromScalar(&k), item.Message, true)
		sigs[i] = [64]byte(compact[1:])
		hexSigs[i] = hex.EncodeToString(sigs[i][:])
	}
	done, err := d.Tx.Finish(sigs)
	if err != nil {
		return fmt.Errorf("gen: withdrawal %s: %w", w.id, err)
	}
	w.bodies[partEnded] = mustBody(audit.SessionEnded{SessionID: w.session, Outcome: "signed", Signatures: hexSigs})
	w.bodies[partSigned] = mustBody(audit.WithdrawalSigned{WithdrawalID: w.id, SessionID: w.session, TxID: done.TxID,
		Signatures: hexSigs, SignedTx: hex.EncodeToString(done.Raw)})
	return nil
}

// approve makes the approvals' records as the node's recordApproval does,
// and checks that they count as planned.
func (t *traffic) approve(w *withdrawal, d policy.Decision, hash [32]byte) error {
	if d.Approval == nil {
		return nil
	}
	pending := policy.Pending{WithdrawalID: w.id, RequestHash: hash, RequestedBy: w.requestedBy, Tier: *d.Approval}
	var counted []policy.SignedApproval
	for i, a := range w.approvals {
		stmt := policy.Approval{Verdict: a.verdict, WithdrawalID: w.id, RequestHash: hash, TxID: d.Tx.ID,
			PolicyHash: d.PolicyHash, Expires: a.at.Add(approvalLifetime).Truncate(time.Second), Reason: a.reason}.Statement()
		sig, err := a.by.Signer.Sign(keys.NamespaceApproval, stmt)
		if err != nil {
			return err
		}
		s := policy.SignedApproval{Officer: a.by.Name, Statement: stmt, Signature: sig}
		var kept []string
		for _, c := range counted {
			kept = append(kept, c.Officer)
		}
		st, problem := w.bundle.CheckAnother(s, pending, kept, a.at)
		ev := audit.WithdrawalApproval{WithdrawalID: w.id, Officer: a.by.Name, Verdict: st.Verdict, Statement: string(stmt),
			Signature: string(sig), Counted: problem == nil, From: "officer " + a.by.Name}
		if problem != nil {
			ev.Problem = problem.Error()
			if ev.Verdict == "" {
				if p, err := policy.ParseStatement(stmt); err == nil {
					ev.Verdict = p.Verdict
				}
			}
		}
		if ev.Counted != a.counted {
			return fmt.Errorf("gen: withdrawal %s: approval %d by %s: the planner expected counted %v, got %v (%v)", w.id, i, a.by.Name, a.counted, ev.Counted, problem)
		}
		w.bodies[partApproval+i] = mustBody(ev)
		if problem != nil {
			continue
		}
		counted = append(counted, s)
		tally := w.bundle.Tally(counted, pending, a.at)
		last := i == len(w.approvals)-1
		switch {
		case tally.Rejection != nil && last && w.rejected:
			rej, _ := policy.ParseStatement(tally.Rejection.Statement)
			w.bodies[partClosing] = mustBody(audit.WithdrawalRejected{WithdrawalID: w.id, Officer: tally.Rejection.Officer, Reason: rej.Reason})
		case tally.Done(pending) && last && !w.rejected:
			w.bodies[partClosing] = mustBody(audit.WithdrawalApproved{WithdrawalID: w.id, Approvers: tally.Approvers})
		case tally.Rejection != nil || tally.Done(pending) || last:
			return fmt.Errorf("gen: withdrawal %s: after approval %d of %d, rejected %v and quorum %v, not as planned", w.id, i+1, len(w.approvals), tally.Rejection != nil, tally.Done(pending))
		}
	}
	return nil
}
