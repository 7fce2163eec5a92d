package rangefetch

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
)

// Error kinds. Every error from a Client that has one of these causes is an
// *Error whose Unwrap yields the kind, so callers test with errors.Is.
var (
	ErrNotFound      = errors.New("object not found")
	ErrNoSuchBucket  = errors.New("bucket not found")
	ErrAccessDenied  = errors.New("access denied")
	ErrObjectChanged = errors.New("object changed since it was opened")
	ErrArchived      = errors.New("object is archived and not restored")
	ErrInvalidRange  = errors.New("range not satisfiable")

	// ErrRetriesExhausted marks a transient failure that persisted through
	// every attempt or past RetryPolicy.MaxElapsed.
	ErrRetriesExhausted = errors.New("gave up retrying")
	// ErrBadResponse marks a reply that breaks the protocol, such as a 200
	// with the whole object where a 206 of one range was asked for.
	ErrBadResponse = errors.New("unexpected response from OSS")
	// ErrNotOSS marks a reply that did not come from OSS at all: an error
	// without OSS's x-oss-request-id header or OSS's error document, or a
	// body that is not OSS's XML (a web server, proxy or captive portal at
	// the endpoint). Its status says nothing about the object.
	ErrNotOSS = errors.New("the endpoint does not look like OSS")
)

// Error describes a failed OSS operation in one line: what was done, to
// which object, what OSS answered, and how to fix it.
type Error struct {
	Op         string // "GET", "HEAD", "LIST", "BUCKETINFO"
	Bucket     string
	Key        string
	StatusCode int    // HTTP status, 0 for transport errors
	Code       string // OSS error code, e.g. "NoSuchKey"
	RequestID  string // x-oss-request-id, for support tickets
	Kind       error  // one of the Err* kinds above, or nil
	Err        error  // the underlying cause; never holds credentials
	Attempts   int    // requests sent, when more than one
	Range      string // "bytes=a-b" for ranged reads
	Endpoint   string // the endpoint URL asked, named where it is the cause
}

// Unwrap lets errors.Is match both the Kind and the cause (for instance
// context.Canceled).
func (e *Error) Unwrap() []error {
	out := make([]error, 0, 2)
	if e.Kind != nil {
		out = append(out, e.Kind)
	}
	if e.Err != nil {
		out = append(out, e.Err)
	}
	return out
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("oss ")
	b.WriteString(e.Op)
	if e.Bucket != "" {
		b.WriteString(" oss://")
		b.WriteString(e.Bucket)
		b.WriteString("/")
		b.WriteString(e.Key)
	}
	if e.Range != "" {
		b.WriteString(" ")
		b.WriteString(e.Range)
	}
	b.WriteString(": ")
	switch {
	case e.Kind == ErrNotOSS && e.Endpoint != "":
		b.WriteString("the endpoint " + e.Endpoint + " does not look like OSS")
	case e.Kind != nil:
		b.WriteString(e.Kind.Error())
	case e.Err != nil:
		b.WriteString(oneLine(e.Err.Error()))
	default:
		b.WriteString("failed")
	}
	var detail []string
	if e.StatusCode != 0 {
		detail = append(detail, fmt.Sprint(e.StatusCode))
	}
	if e.Code != "" {
		detail = append(detail, e.Code)
	}
	if e.RequestID != "" {
		detail = append(detail, "request id "+e.RequestID)
	}
	if e.Attempts > 1 {
		detail = append(detail, fmt.Sprintf("%d attempts", e.Attempts))
	}
	if len(detail) > 0 {
		b.WriteString(" (")
		b.WriteString(strings.Join(detail, ", "))
		b.WriteString(")")
	}
	h := e.hint()
	// OSS's own message adds nothing once a hint names the fix.
	if e.Kind != nil && e.Err != nil && (h == "" || e.Code == "") {
		b.WriteString(": ")
		b.WriteString(strings.TrimSuffix(oneLine(e.Err.Error()), "."))
	}
	if h != "" {
		b.WriteString(": ")
		b.WriteString(h)
	}
	return b.String()
}

// Causes of ErrNotOSS: what the reply lacked.
var (
	errNoRequestID  = errors.New("the reply has no x-oss-request-id header")
	errNotOSSFormat = errors.New("the reply is not in OSS's format")
)

// errNoTLS is the cause of an https:// request answered by a server that
// does not speak TLS on that port.
var errNoTLS = errors.New("the endpoint does not speak TLS")

// errPlainHTTP is errNoTLS where the server answered in plain HTTP.
var errPlainHTTP = fmt.Errorf("%w (it answered in plain HTTP)", errNoTLS)

const checkEndpoint = "check OSS_ENDPOINT / --endpoint"

// hint names the fix for the failures a user can do something about.
func (e *Error) hint() string {
	if h := codeHint(e.Code, e.Err); h != "" {
		return h
	}
	switch {
	case errors.Is(e.Kind, ErrNotOSS):
		return checkEndpoint
	case errors.Is(e.Err, errNoRequestID), errors.Is(e.Err, errNotOSSFormat):
		// Retried (a 503 page) and still not OSS.
		return "is " + e.endpointOr("the endpoint") + " an OSS service? " + checkEndpoint
	case errors.Is(e.Err, errPlainHTTP) && strings.HasPrefix(e.Endpoint, "https://"):
		return "use --endpoint " + "http://" + strings.TrimPrefix(e.Endpoint, "https://") + " (or fix OSS_ENDPOINT)"
	case errors.Is(e.Err, errNoTLS):
		return "check the scheme and port in OSS_ENDPOINT / --endpoint"
	case errors.Is(e.Err, syscall.ECONNREFUSED):
		return "nothing accepts connections at the endpoint: " + checkEndpoint
	case errors.Is(e.Kind, ErrBadResponse):
		return "the endpoint does not behave like OSS: " + checkEndpoint
	}
	switch e.Kind {
	case ErrObjectChanged:
		return "the object was replaced; stat it again"
	case ErrRetriesExhausted:
		return "OSS or the network kept failing; try again later"
	}
	return ""
}

// endpointOr returns the endpoint asked, or alt when it is not known.
func (e *Error) endpointOr(alt string) string {
	if e.Endpoint != "" {
		return e.Endpoint
	}
	return alt
}

// codeHint names the fix for an OSS error code.
func codeHint(code string, cause error) string {
	switch code {
	case "SignatureDoesNotMatch":
		return "the request signature was refused: check OSS_ACCESS_KEY_SECRET (and the region for signature V4)"
	case "InvalidAccessKeyId":
		return "the access key id is unknown: check OSS_ACCESS_KEY_ID"
	case "InvalidSecurityToken", "SecurityTokenExpired":
		return "the STS token is invalid or expired: refresh OSS_SESSION_TOKEN"
	case "RequestTimeTooSkewed":
		return "the local clock is off by more than 15 minutes: fix the system time"
	case "NoSuchBucket":
		return "check the bucket name and that the endpoint/region is the bucket's"
	case "InvalidObjectState":
		return "restore the object first (e.g. ossutil restore)"
	case "AccessDenied":
		return "the credentials lack permission for this bucket or object"
	case "InvalidArgument":
		if cause != nil && strings.Contains(strings.ToLower(cause.Error()), "region") {
			return "the signing region is not the bucket's: set OSS_REGION / --region (e.g. cn-hangzhou)"
		}
	}
	return ""
}

// oneLine keeps a cause to a single line so that log lines and CLI messages
// stay readable even if a lower layer returns a multi-line body.
func oneLine(s string) string {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i] + " …"
	}
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
