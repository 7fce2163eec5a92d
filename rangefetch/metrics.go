package rangefetch

import (
	"github.com/prometheus/client_golang/prometheus"
)

// clientMetrics are one Client's Prometheus counters. Every series carries
// the constant label endpoint, the URL of the endpoint the client talks to
// (Client.Endpoint), so that clients of different endpoints can share a
// registry. The endpoint is what an operator knows a client by, but it is
// not unique: clients of one endpoint on one registry collide, and New
// returns the registry's error unless each was handed a Registerer wrapped
// with a label of its own (prometheus.WrapRegistererWith).
type clientMetrics struct {
	requests *prometheus.CounterVec
	retries  *prometheus.CounterVec
	bytes    prometheus.Counter
	errors   *prometheus.CounterVec
}

func newClientMetrics(endpoint string) *clientMetrics {
	label := prometheus.Labels{"endpoint": endpoint}
	return &clientMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "ossmount", Subsystem: "rangefetch", Name: "requests_total",
			Help:        "OSS requests sent, by operation (get, head, list, bucket_info).",
			ConstLabels: label,
		}, []string{"op"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "ossmount", Subsystem: "rangefetch", Name: "retries_total",
			Help:        "OSS requests repeated after a transient failure, by operation.",
			ConstLabels: label,
		}, []string{"op"}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "ossmount", Subsystem: "rangefetch", Name: "bytes_total",
			Help:        "Object body bytes received from OSS.",
			ConstLabels: label,
		}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "ossmount", Subsystem: "rangefetch", Name: "errors_total",
			Help:        "Failed attempts by operation and error class (transient ones may have been retried).",
			ConstLabels: label,
		}, []string{"op", "class"}),
	}
}

// collectors are the counters in the order they are described.
func (m *clientMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.requests, m.retries, m.bytes, m.errors}
}

// Describe implements prometheus.Collector, so that a client's counters
// register (and are refused) as one.
func (m *clientMetrics) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range m.collectors() {
		c.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (m *clientMetrics) Collect(ch chan<- prometheus.Metric) {
	for _, c := range m.collectors() {
		c.Collect(ch)
	}
}

// opLabel maps an Error.Op to a metric label.
func opLabel(op string) string {
	switch op {
	case opGet:
		return "get"
	case opHead:
		return "head"
	case opList:
		return "list"
	case opBucketInfo:
		return "bucket_info"
	}
	return "other"
}
