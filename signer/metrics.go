package signer

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the node's Prometheus metrics, all prefixed countersign_.
type metrics struct {
	requests       *prometheus.CounterVec
	requestSeconds *prometheus.HistogramVec
	sessions       *prometheus.CounterVec
	sessionSeconds *prometheus.HistogramVec
	dropped        *prometheus.CounterVec
	poolReady      prometheus.Gauge
	poolGenerating prometheus.Gauge
	poolGenerated  prometheus.Counter
	poolSeconds    prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "countersign_grpc_requests_total", Help: "gRPC calls handled, by method and code.",
		}, []string{"method", "code"}),
		requestSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "countersign_grpc_request_seconds", Help: "gRPC call durations.", Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10),
		}, []string{"method"}),
		sessions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "countersign_sessions_total", Help: "Sessions ended, by kind and outcome.",
		}, []string{"kind", "outcome"}),
		sessionSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "countersign_session_seconds", Help: "Session durations.", Buckets: prometheus.ExponentialBuckets(0.05, 2, 12),
		}, []string{"kind"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "countersign_peer_messages_dropped_total", Help: "Peer messages dropped or refused, by reason.",
		}, []string{"reason"}),
		poolReady: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "countersign_preparams_ready", Help: "Sealed pre-parameter sets ready for key generation.",
		}),
		poolGenerating: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "countersign_preparams_generating", Help: "1 while a pre-parameter set is being generated.",
		}),
		poolGenerated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "countersign_preparams_generated_total", Help: "Pre-parameter sets generated.",
		}),
		poolSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "countersign_preparams_seconds", Help: "Time to generate one pre-parameter set.", Buckets: prometheus.ExponentialBuckets(2, 2, 8),
		}),
	}
	reg.MustRegister(m.requests, m.requestSeconds, m.sessions, m.sessionSeconds, m.dropped,
		m.poolReady, m.poolGenerating, m.poolGenerated, m.poolSeconds)
	return m
}
