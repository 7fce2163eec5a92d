// Package rangefetch is ossmount's only door to Alibaba Cloud OSS.
//
// It wraps github.com/aliyun/aliyun-oss-go-sdk/oss and adds what the SDK
// lacks for a read-only mount: strict ranged reads pinned to one object
// version (Range + x-oss-range-behavior: standard + If-Match, checked 206 and
// Content-Range), retries with backoff that resume a cut body from the last
// byte received, stall detection, a connection pool sized to the
// parallelism, typed errors whose text is one line naming the fix, and
// Prometheus counters.
package rangefetch
