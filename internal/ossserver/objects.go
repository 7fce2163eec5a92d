package ossserver

import (
	"errors"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"
)

// serveObject answers GET and HEAD of an object. The whole response comes
// from one opened version: headers, CRC and body.
func (s *Server) serveObject(w http.ResponseWriter, r *http.Request, bucket, key string) {
	head := r.Method == http.MethodHead
	f := s.Faults()
	if !head && f.FirstByteLatency > 0 {
		if sleep(r.Context(), f.FirstByteLatency) != nil {
			return
		}
	}
	if !head && s.dice.roll(f.SlowDownFraction) { // throttling comes before any lookup
		s.counters.slowDowns.Add(1)
		writeError(w, r, newError(http.StatusServiceUnavailable, "SlowDown", "Please reduce your request rate."))
		return
	}
	v, err := s.cfg.Storage.Open(bucket, key)
	if err != nil {
		writeError(w, r, s.storageError(err, bucket, key))
		return
	}
	defer v.Close()
	info := v.Info()
	class, restored := s.storageClass(bucket, key, info)

	h := w.Header()
	h.Set("ETag", info.ETag)
	h.Set("Last-Modified", info.LastModified.UTC().Format(http.TimeFormat))
	if status, cond := evalConditions(r.Header, info.ETag, info.LastModified); status == http.StatusNotModified {
		w.WriteHeader(status)
		return
	} else if status != 0 {
		writeError(w, r, newError(status, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold.").
			with("Condition", cond))
		return
	}
	if !head && archived(class) && !restored {
		writeError(w, r, newError(http.StatusForbidden, "InvalidObjectState",
			"The operation is not valid for the object's state.").with("Key", key))
		return
	}
	crc, err := s.crc.get(bucket, key, v)
	if err != nil {
		s.log.Warn("checksum failed", "bucket", bucket, "key", key, "err", err)
		writeError(w, r, newError(http.StatusServiceUnavailable, "ServiceUnavailable", "The object changed while it was read; retry."))
		return
	}
	if f.WrongCRC {
		crc ^= 0x5A5A5A5A5A5A5A5A
	}
	h.Set("x-oss-hash-crc64ecma", strconv.FormatUint(crc, 10))
	h.Set("x-oss-object-type", "Normal")
	h.Set("x-oss-storage-class", class)
	if archived(class) && restored {
		h.Set("x-oss-restore", `ongoing-request="false", expiry-date="`+
			s.now().Add(24*time.Hour).UTC().Format(http.TimeFormat)+`"`)
	}
	h.Set("Accept-Ranges", "bytes")
	h.Set("Content-Type", contentType(key))
	responseOverrides(h, r)

	status, rng := http.StatusOK, byteRange{0, info.Size - 1}
	if !head {
		standard := strings.EqualFold(r.Header.Get("x-oss-range-behavior"), "standard")
		switch outcome, br := resolveRange(r.Header.Get("Range"), info.Size, standard); outcome {
		case rangeInvalid:
			writeError(w, r, newError(http.StatusRequestedRangeNotSatisfiable, "InvalidRange",
				"The requested range cannot be satisfied").
				with("RangeRequested", r.Header.Get("Range")).
				with("ActualObjectSize", strconv.FormatInt(info.Size, 10)))
			return
		case rangePartial:
			status, rng = http.StatusPartialContent, br
			h.Set("Content-Range", "bytes "+strconv.FormatInt(br.Start, 10)+"-"+
				strconv.FormatInt(br.End, 10)+"/"+strconv.FormatInt(info.Size, 10))
			s.counters.partialGets.Add(1)
		}
	}
	n := rng.End - rng.Start + 1
	h.Set("Content-Length", strconv.FormatInt(n, 10))
	w.WriteHeader(status)
	if head || n == 0 {
		return
	}
	s.sendBody(w, r, v, rng.Start, n, f)
}

// storageError maps a storage error to the OSS error.
func (s *Server) storageError(err error, bucket, key string) *ossError {
	switch {
	case errors.Is(err, ErrNoSuchBucket):
		return errNoSuchBucket(bucket)
	case errors.Is(err, ErrNoSuchKey):
		return errNoSuchKey(key)
	}
	s.log.Error("storage failed", "bucket", bucket, "key", key, "err", err)
	return newError(http.StatusInternalServerError, "InternalError", "We encountered an internal error. Please try again.")
}

// evalConditions applies the conditional headers in OSS's order: If-Match,
// If-Unmodified-Since, If-None-Match, If-Modified-Since. It returns 0 when
// the request may proceed, else 412 (with the failed condition) or 304. As
// in RFC 9110, a date condition is ignored when the matching ETag condition
// is present. Times compare at whole seconds, the precision of the headers.
func evalConditions(h http.Header, etag string, modified time.Time) (status int, condition string) {
	modified = modified.Truncate(time.Second)
	if im := h.Get("If-Match"); im != "" {
		if !etagListMatches(im, etag) {
			return http.StatusPreconditionFailed, "If-Match"
		}
	} else if t, err := http.ParseTime(h.Get("If-Unmodified-Since")); err == nil && modified.After(t) {
		return http.StatusPreconditionFailed, "If-Unmodified-Since"
	}
	if inm := h.Get("If-None-Match"); inm != "" {
		if etagListMatches(inm, etag) {
			return http.StatusNotModified, "If-None-Match"
		}
	} else if t, err := http.ParseTime(h.Get("If-Modified-Since")); err == nil && !modified.After(t) {
		return http.StatusNotModified, "If-Modified-Since"
	}
	return 0, ""
}

// etagListMatches reports whether a comma-separated list of ETags (or "*")
// contains etag. Quotes and a weak "W/" prefix are not significant.
func etagListMatches(list, etag string) bool {
	want := strings.Trim(etag, `"`)
	for c := range strings.SplitSeq(list, ",") {
		c = strings.TrimSpace(c)
		if c == "*" {
			return true
		}
		c = strings.TrimPrefix(c, "W/")
		if strings.EqualFold(strings.Trim(c, `"`), want) {
			return true
		}
	}
	return false
}

// contentType guesses from the extension, as OSS does on upload.
func contentType(key string) string {
	if t := mime.TypeByExtension(path.Ext(key)); t != "" {
		return t
	}
	return "application/octet-stream"
}

// responseOverrides applies the response-* query parameters, which let a
// (signed) request choose some response headers.
func responseOverrides(h http.Header, r *http.Request) {
	for param, header := range map[string]string{
		"response-content-type":        "Content-Type",
		"response-content-language":    "Content-Language",
		"response-expires":             "Expires",
		"response-cache-control":       "Cache-Control",
		"response-content-disposition": "Content-Disposition",
		"response-content-encoding":    "Content-Encoding",
	} {
		if v := r.URL.Query().Get(param); v != "" {
			h.Set(header, v)
		}
	}
}
