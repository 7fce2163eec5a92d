// Package ossserver is a local server that speaks enough of the Alibaba
// Cloud OSS REST protocol for the unmodified OSS SDK: signed (V1, V4, STS)
// GET, HEAD and Range requests with OSS's own Range and conditional rules,
// ListObjects V1/V2, ListBuckets and GetBucketInfo, all read-only, from a
// directory tree or from memory. It can slow down and break responses on
// purpose, and counts what it serves, so that ossmount can be tested and
// benchmarked without a cloud.
package ossserver

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Credentials is the key pair (and, for STS, the session token) that
// requests must be signed with.
type Credentials struct {
	AccessKeyID, AccessKeySecret, SessionToken string
}

// Config configures a Server.
type Config struct {
	Storage     Storage
	Credentials Credentials   // required unless Anonymous
	Anonymous   bool          // accept every request without checking signatures
	Region      string        // when set, V4 requests must be signed for this region
	MaxSkew     time.Duration // largest accepted request-time skew; default 15m
	Logger      *slog.Logger  // default: discard
	Faults      Faults        // initial faults
	Seed        uint64        // seed of the fault dice; 0 means 1
}

// DefaultMaxSkew is how far a request's time may be from the server's, as
// on real OSS.
const DefaultMaxSkew = 15 * time.Minute

// Server is an http.Handler speaking the OSS protocol. Several servers can
// run in one process; a server registers nothing global.
type Server struct {
	cfg      Config
	log      *slog.Logger
	faults   atomic.Pointer[Faults]
	dice     *dice
	counters counters
	crc      *crcCache
	now      func() time.Time

	idPrefix uint32
	idSeq    atomic.Uint64

	classMu sync.Mutex
	classes map[objectID]*classState
}

// New checks cfg and returns a server.
func New(cfg Config) (*Server, error) {
	if cfg.Storage == nil {
		return nil, errors.New("ossserver: Config.Storage is required")
	}
	if !cfg.Anonymous && (cfg.Credentials.AccessKeyID == "" || cfg.Credentials.AccessKeySecret == "") {
		return nil, errors.New("ossserver: credentials are required unless Anonymous is set")
	}
	if cfg.MaxSkew <= 0 {
		cfg.MaxSkew = DefaultMaxSkew
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Seed == 0 {
		cfg.Seed = 1
	}
	var b [4]byte
	rand.Read(b[:])
	s := &Server{
		cfg:      cfg,
		log:      cfg.Logger,
		dice:     newDice(cfg.Seed),
		crc:      newCRCCache(4096),
		now:      time.Now,
		idPrefix: binary.BigEndian.Uint32(b[:]),
		classes:  make(map[objectID]*classState),
	}
	s.SetFaults(cfg.Faults)
	return s, nil
}

const hdrRequestID = "x-oss-request-id"

// newRequestID returns 24 upper-case hex digits, like OSS request ids:
// unique per server, distinct across servers in one process.
func (s *Server) newRequestID() string {
	return fmt.Sprintf("%08X%016X", s.idPrefix, s.idSeq.Add(1))
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set(hdrRequestID, s.newRequestID())
	h.Set("Server", "AliyunOSS")
	h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	if r.URL.Path == "/-/stats" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		s.serveStats(w)
		return
	}
	if s.log.Enabled(r.Context(), slog.LevelDebug) {
		start := time.Now()
		lw := &loggingWriter{ResponseWriter: w, status: http.StatusOK}
		defer func() {
			s.log.Debug("request", "method", r.Method, "host", r.Host, "uri", r.RequestURI,
				"status", lw.status, "bytes", lw.bytes, "duration", time.Since(start),
				"request_id", h.Get(hdrRequestID))
		}()
		w = lw
	}
	s.route(w, r)
}

// route addresses the request (path or virtual-host style), authenticates
// it and dispatches it.
func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	bucket, key, isObject := address(r.Host, r.URL.Path)
	q := r.URL.Query()
	get := r.Method == http.MethodGet
	kind := &s.counters.others
	switch {
	case isObject && get:
		kind = &s.counters.gets
	case isObject && r.Method == http.MethodHead:
		kind = &s.counters.heads
	case !isObject && get && (bucket == "" || !q.Has("bucketInfo") && !q.Has("location")):
		kind = &s.counters.lists
	}
	kind.Add(1)

	if e := s.authenticate(r, bucket, key); e != nil {
		writeError(w, r, e)
		return
	}
	switch {
	case bucket == "" && get:
		s.listBuckets(w, r)
	case bucket == "":
		writeError(w, r, errMethod(r))
	case !isObject && get && q.Has("bucketInfo"):
		s.bucketInfo(w, r, bucket)
	case !isObject && get && q.Has("location"):
		s.bucketLocation(w, r, bucket)
	case !isObject && get:
		s.listObjects(w, r, bucket)
	case !isObject:
		writeError(w, r, errMethod(r))
	case get || r.Method == http.MethodHead:
		s.serveObject(w, r, bucket, key)
	case r.Method == http.MethodPost && q.Has("restore"):
		s.restoreRequest(w, r, bucket, key)
	default:
		writeError(w, r, errMethod(r))
	}
}

func errMethod(r *http.Request) *ossError {
	if r.Method == http.MethodGet || r.Method == http.MethodHead || r.Method == http.MethodPost {
		return newError(http.StatusMethodNotAllowed, "MethodNotAllowed", "The specified method is not allowed against this resource.").
			with("Method", r.Method)
	}
	return errAccessDenied("This server is read-only.")
}

// address splits a request into bucket and key. Path style is
// "/bucket/key"; virtual-host style puts the bucket in front of an IP or
// localhost ("bucket.127.0.0.1:9000", "bucket.localhost:9000") and the key
// in the path. isObject is false for service ("/") and bucket ("/bucket/")
// requests.
func address(host, path string) (bucket, key string, isObject bool) {
	p := strings.TrimPrefix(path, "/")
	if b := virtualHostBucket(host); b != "" {
		return b, p, p != ""
	}
	bucket, key, _ = strings.Cut(p, "/")
	return bucket, key, key != ""
}

func virtualHostBucket(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	bucket, rest, ok := strings.Cut(host, ".")
	if !ok || bucket == "" || net.ParseIP(host) != nil {
		return ""
	}
	if rest == "localhost" || net.ParseIP(rest) != nil {
		return bucket
	}
	return ""
}

// loggingWriter records the status and size of a response for the debug
// log. Unwrap keeps http.ResponseController (flush) working through it.
type loggingWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (l *loggingWriter) WriteHeader(code int) {
	l.status = code
	l.ResponseWriter.WriteHeader(code)
}

func (l *loggingWriter) Write(p []byte) (int, error) {
	n, err := l.ResponseWriter.Write(p)
	l.bytes += int64(n)
	return n, err
}

func (l *loggingWriter) Unwrap() http.ResponseWriter { return l.ResponseWriter }
