package rangefetch

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"

	"github.com/aliyun/aliyun-oss-go-sdk/oss"
)

// Operation names used in *Error.Op.
const (
	opGet        = "GET"
	opHead       = "HEAD"
	opList       = "LIST"
	opBucketInfo = "BUCKETINFO"
)

// errStalled is the cancel cause of an attempt whose body stopped flowing.
var errStalled = errors.New("no body byte within the stall timeout")

// errShortBody marks a body that ended before the asked-for range.
var errShortBody = errors.New("response body ended early")

// failure is one attempt's outcome, classified.
type failure struct {
	err       *Error
	retryable bool
	class     string // metric label
}

// classify turns an SDK or transport error into an *Error and decides
// whether another attempt can help. ctx is the caller's context: once it
// is done nothing is retried and its error is reported as the cause.
func classify(ctx context.Context, op, bucket, key string, err error) failure {
	e := &Error{Op: op, Bucket: bucket, Key: key, Err: err}
	if ctxErr := ctx.Err(); ctxErr != nil {
		e.Err = ctxErr
		return failure{err: e, class: "canceled"}
	}
	var fe *Error
	if errors.As(err, &fe) { // already classified (protocol checks)
		return failure{err: fe, retryable: fe.Kind == nil && fe.StatusCode >= 500, class: "protocol"}
	}
	var se oss.ServiceError
	if errors.As(err, &se) {
		return classifyService(e, se)
	}
	if se, ok := foreignErrorReply(err); ok {
		return classifyForeign(e, se.StatusCode, errNotOSSFormat)
	}
	var syntaxErr *xml.SyntaxError
	var unmarshalErr xml.UnmarshalError
	if errors.As(err, &syntaxErr) && syntaxErr.Msg == "unexpected EOF" {
		// A body without a length, cut short.
		return failure{err: e, retryable: true, class: "short_body"}
	}
	if errors.As(err, &syntaxErr) || errors.As(err, &unmarshalErr) {
		// A whole 2xx body that is not the XML asked for: the endpoint is
		// not OSS (a proxy's or captive portal's page). Asking again
		// will not change that.
		e.Kind = ErrNotOSS
		e.Err = errNotOSSFormat
		return failure{err: e, class: "protocol"}
	}
	var ue oss.UnexpectedStatusCodeError
	if errors.As(err, &ue) {
		e.StatusCode = ue.Got()
		e.Err = errors.New(http.StatusText(ue.Got()))
		return failure{err: e, retryable: retryableStatus(ue.Got()), class: "status"}
	}
	if msg := err.Error(); strings.HasPrefix(msg, "oss: service returned 3") {
		// The SDK reports 3xx (e.g. 304) as a plain string.
		e.Err = errors.New(oneLine(msg))
		return failure{err: e, class: "status"}
	}
	switch {
	case errors.Is(err, errStalled):
		return failure{err: e, retryable: true, class: "stall"}
	case errors.Is(err, errShortBody), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return failure{err: e, retryable: true, class: "short_body"}
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
		e.Err = errors.New("host " + dnsErr.Name + " not found: check OSS_ENDPOINT / --endpoint")
		return failure{err: e, class: "dns"}
	}
	if errors.Is(err, http.ErrSchemeMismatch) {
		// https:// to a plain-HTTP server: no attempt can succeed.
		e.Err = errPlainHTTP
		return failure{err: e, class: "tls"}
	}
	var recordErr tls.RecordHeaderError
	if errors.As(err, &recordErr) {
		e.Err = errNoTLS
		return failure{err: e, class: "tls"}
	}
	var certErr *x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	if errors.As(err, &certErr) || errors.As(err, &hostErr) {
		return failure{err: e, class: "tls"}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return failure{err: e, retryable: true, class: "timeout"}
	}
	// Resets, refused connections, closed idle connections, broken pipes:
	// the request is idempotent, so trying again is safe.
	return failure{err: e, retryable: true, class: "network"}
}

func classifyService(e *Error, se oss.ServiceError) failure {
	if se.RequestID == "" {
		// OSS sends x-oss-request-id with every reply, errors included;
		// an error without one (say, a bare 404 to a HEAD) came from
		// something else and says nothing about the object.
		return classifyForeign(e, se.StatusCode, errNoRequestID)
	}
	e.StatusCode, e.Code, e.RequestID = se.StatusCode, se.Code, se.RequestID
	// The SDK's message may embed the raw XML; keep only the code and message.
	msg := se.Message
	if msg == "" {
		msg = http.StatusText(se.StatusCode)
	}
	e.Err = errors.New(oneLine(msg))
	switch {
	case se.Code == "PreconditionFailed" || se.StatusCode == http.StatusPreconditionFailed:
		e.Kind = ErrObjectChanged
	case se.Code == "NoSuchBucket":
		e.Kind = ErrNoSuchBucket
	case se.Code == "NoSuchKey" || se.StatusCode == http.StatusNotFound:
		e.Kind = ErrNotFound
	case se.Code == "InvalidObjectState":
		e.Kind = ErrArchived
	case se.StatusCode == http.StatusForbidden:
		e.Kind = ErrAccessDenied
	case se.Code == "InvalidRange" || se.StatusCode == http.StatusRequestedRangeNotSatisfiable:
		e.Kind = ErrInvalidRange
	}
	retry := e.Kind == nil && (retryableStatus(se.StatusCode) || se.Code == "SlowDown" || se.Code == "RequestTimeout")
	class := "client"
	if retry {
		class = "server"
	}
	return failure{err: e, retryable: retry, class: class}
}

// classifyForeign classifies an error reply that did not come from OSS:
// its kind is ErrNotOSS whatever the status, and only a status that may
// pass (a proxy's 503) is retried.
func classifyForeign(e *Error, status int, cause error) failure {
	e.StatusCode, e.Kind, e.Err = status, ErrNotOSS, cause
	if retryableStatus(status) {
		// Kind stays nil while retrying, so that exhaustion is reported
		// as such; the cause still names the endpoint as the suspect.
		e.Kind = nil
		return failure{err: e, retryable: true, class: "server"}
	}
	return failure{err: e, class: "client"}
}

// foreignErrorReply recognises the SDK's plain-string error for a 4xx/5xx
// reply whose body is not an OSS error document (an HTML page from a proxy
// or load balancer), and recovers its status: a 503 is retried, the rest
// are not.
// The SDK gives no typed error for this case; its wording has been stable
// across its releases.
func foreignErrorReply(err error) (oss.ServiceError, bool) {
	const prefix = "oss: service returned invalid response body, status = "
	rest, ok := strings.CutPrefix(err.Error(), prefix)
	if !ok {
		return oss.ServiceError{}, false
	}
	var status int
	if _, serr := fmt.Sscanf(rest, "%d", &status); serr != nil || status < 400 {
		return oss.ServiceError{}, false
	}
	se := oss.ServiceError{StatusCode: status}
	if _, id, ok := strings.Cut(rest, "RequestId = "); ok {
		se.RequestID, _, _ = strings.Cut(id, ",")
	}
	return se, true
}

// retryableStatus: 5xx, 429 Too Many Requests and 408 Request Timeout.
func retryableStatus(code int) bool {
	return code >= 500 || code == http.StatusTooManyRequests || code == http.StatusRequestTimeout
}
