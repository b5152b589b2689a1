package signer

import (
	"encoding/hex"

	pb "github.com/countersign/countersign/proto/countersign/v1"
	"github.com/countersign/countersign/signer/audit"
	"github.com/countersign/countersign/signer/store"
)

func storeEvent(kind audit.Kind, body any) store.Event { return store.Event{Kind: kind, Body: body} }

func sessionStartedEvent(s *session) store.Event {
	return storeEvent(audit.KindSessionStarted, &audit.SessionStarted{
		SessionID: s.key(), Kind: s.kind, WalletID: s.walletID, Committee: s.members, Coordinator: s.coordinator, Purpose: s.purpose,
	})
}

func sessionAbortedEvent(s *session, a *pb.Aborted) store.Event {
	return storeEvent(audit.KindSessionAborted, &audit.SessionAborted{SessionID: s.key(), Reason: a.Reason, Culprits: a.Culprits})
}

func sessionEndedEvent(s *session, outcome string, sigs [][64]byte) store.Event {
	e := &audit.SessionEnded{SessionID: s.key(), Outcome: outcome}
	for _, sig := range sigs {
		e.Signatures = append(e.Signatures, hex.EncodeToString(sig[:]))
	}
	return storeEvent(audit.KindSessionEnded, e)
}
