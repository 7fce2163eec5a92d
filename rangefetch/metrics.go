package rangefetch

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Metrics are package-level and registered once on the default registry:
// a process may build many Clients (tests build one per case) and
// registering per client would panic on the duplicate.
var (
	metricRequests = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: "ossmount", Subsystem: "rangefetch", Name: "requests_total",
		Help: "OSS requests sent, by operation (get, head, list, bucket_info).",
	}, []string{"op"})
	metricRetries = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: "ossmount", Subsystem: "rangefetch", Name: "retries_total",
		Help: "OSS requests repeated after a transient failure, by operation.",
	}, []string{"op"})
	metricBytes = promauto.NewCounter(prometheus.CounterOpts{
		Namespace: "ossmount", Subsystem: "rangefetch", Name: "bytes_total",
		Help: "Object body bytes received from OSS.",
	})
	metricErrors = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: "ossmount", Subsystem: "rangefetch", Name: "errors_total",
		Help: "Failed attempts by operation and error class (transient ones may have been retried).",
	}, []string{"op", "class"})
)

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
