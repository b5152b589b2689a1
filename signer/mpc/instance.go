package mpc

import (
	"fmt"

	"github.com/bnb-chain/tss-lib/v2/tss"
)

// instance is one tss-lib party and the bookkeeping around it.
type instance struct {
	c      *committee
	party  tss.Party
	out    chan tss.Message
	prefix string // prepended to message types: the digest index of a signing
	specs  map[string]msgSpec
	round  int // the highest round we have sent a message of
}

func newInstance(c *committee, prefix string, specs map[string]msgSpec) *instance {
	return &instance{c: c, prefix: prefix, specs: specs, out: make(chan tss.Message, outBuffer)}
}

// start runs round one and returns what it sends.
func (in *instance) start() (msgs []Message, err error) {
	defer recoverInto(&err, "")
	if e := in.party.Start(); e != nil {
		return nil, in.c.wrapTSS("start", e)
	}
	return in.drain()
}

// deliver hands a checked message to tss-lib and returns what it sends.
func (in *instance) deliver(pm tss.ParsedMessage) (msgs []Message, err error) {
	from := pm.GetFrom().Id
	defer recoverInto(&err, from)
	if _, e := in.party.Update(pm); e != nil {
		return nil, in.c.wrapTSS("round failed", e)
	}
	return in.drain()
}

// drain collects what tss-lib has queued to send. tss-lib sends from the
// goroutine that called it, so after Start or Update returns the queue
// holds everything that call produced.
func (in *instance) drain() ([]Message, error) {
	var msgs []Message
	for {
		select {
		case tm := <-in.out:
			wire, routing, err := tm.WireBytes()
			if err != nil {
				return nil, &Error{Reason: "encode outgoing message: " + err.Error(), cause: err}
			}
			spec, ok := in.specs[tm.Type()]
			if !ok || spec.broadcast != routing.IsBroadcast {
				return nil, &Error{Reason: fmt.Sprintf("tss-lib sent unexpected message %s", tm.Type())}
			}
			in.round = max(in.round, spec.round)
			m := Message{Type: in.prefix + tm.Type(), Payload: wire, Broadcast: routing.IsBroadcast}
			if !m.Broadcast {
				m.To = in.c.nodes(routing.To)
			}
			msgs = append(msgs, m)
		default:
			return msgs, nil
		}
	}
}

// checkSpec checks a message's type, broadcast flag and round against the
// protocol's table and our progress.
func (in *instance) checkSpec(from, typeName string, m Message) error {
	spec, ok := in.specs[typeName]
	if !ok {
		return badMessage(from, "type %q is not part of this protocol", m.Type)
	}
	if spec.broadcast != m.Broadcast {
		return badMessage(from, "%s sent with broadcast=%t", typeName, m.Broadcast)
	}
	if spec.round > in.round+1 {
		return badMessage(from, "%s is for round %d while this party is in round %d", typeName, spec.round, in.round)
	}
	return nil
}

func (in *instance) waiting() []string {
	if in.party == nil {
		return nil
	}
	return in.c.nodes(in.party.WaitingFor())
}

// recoverInto turns a panic inside tss-lib, called from this goroutine, into
// an error blaming the sender of the message being handled.
func recoverInto(err *error, from string) {
	if r := recover(); r != nil {
		e := &Error{Reason: fmt.Sprintf("tss-lib panicked: %v", r)}
		if from != "" {
			e.Reason = fmt.Sprintf("tss-lib panicked on a message from %s: %v", from, r)
			e.Culprits = []string{from}
		}
		*err = e
	}
}
