package ossserver

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// authScheme is the signature version of an Authorization header.
type authScheme int

const (
	authV1 authScheme = iota + 1 // "OSS ak:signature", HMAC-SHA1
	authV4                       // "OSS4-HMAC-SHA256 Credential=...", HMAC-SHA256
)

// authHeader is a parsed Authorization header.
type authHeader struct {
	Scheme      authScheme
	AccessKeyID string
	Signature   string
	// V4 credential scope and extra signed headers.
	ScopeDate, Region, Product string
	AdditionalHeaders          []string
}

// parseAuthorization parses the two header forms the SDK sends. It is
// strict about structure but does not judge the values; verification
// happens later.
func parseAuthorization(h string) (authHeader, error) {
	if rest, ok := strings.CutPrefix(h, "OSS "); ok {
		i := strings.LastIndexByte(rest, ':')
		if i <= 0 || i == len(rest)-1 {
			return authHeader{}, errors.New("want OSS AccessKeyId:Signature")
		}
		return authHeader{Scheme: authV1, AccessKeyID: rest[:i], Signature: rest[i+1:]}, nil
	}
	rest, ok := strings.CutPrefix(h, "OSS4-HMAC-SHA256 ")
	if !ok {
		return authHeader{}, errors.New("unsupported authorization scheme")
	}
	a := authHeader{Scheme: authV4}
	var cred string
	// The SDK separates fields with "," and the documentation with ", ".
	for part := range strings.SplitSeq(rest, ",") {
		name, value, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return authHeader{}, errors.New("malformed field " + strconv.Quote(part))
		}
		switch name {
		case "Credential":
			cred = value
		case "Signature":
			a.Signature = value
		case "AdditionalHeaders":
			for hn := range strings.SplitSeq(value, ";") {
				if hn == "" {
					return authHeader{}, errors.New("empty name in AdditionalHeaders")
				}
				a.AdditionalHeaders = append(a.AdditionalHeaders, strings.ToLower(hn))
			}
		default:
			return authHeader{}, errors.New("unknown field " + strconv.Quote(name))
		}
	}
	// Credential = AccessKeyId/yyyymmdd/region/product/aliyun_v4_request
	f := strings.Split(cred, "/")
	if len(f) != 5 || f[4] != "aliyun_v4_request" {
		return authHeader{}, errors.New("malformed Credential")
	}
	a.AccessKeyID, a.ScopeDate, a.Region, a.Product = f[0], f[1], f[2], f[3]
	if a.AccessKeyID == "" || a.Product == "" || !isScopeDate(a.ScopeDate) {
		return authHeader{}, errors.New("malformed Credential")
	}
	if len(a.Signature) != 64 || !isLowerHex(a.Signature) {
		return authHeader{}, errors.New("Signature must be 64 hex digits")
	}
	return a, nil
}

func isScopeDate(s string) bool {
	_, err := time.Parse("20060102", s)
	return len(s) == 8 && err == nil
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if !('0' <= s[i] && s[i] <= '9' || 'a' <= s[i] && s[i] <= 'f') {
			return false
		}
	}
	return true
}

// queryParam is one decoded query parameter, in request order.
type queryParam struct{ Key, Value string }

// parseQuery decodes a raw query into parameters, keeping the first value
// of each key (the SDK never repeats one) and tolerating bad escapes, which
// a signature check will then reject.
func parseQuery(raw string) []queryParam {
	var out []queryParam
	seen := map[string]bool{}
	for part := range strings.SplitSeq(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		if dk, err := url.QueryUnescape(k); err == nil {
			k = dk
		}
		if dv, err := url.QueryUnescape(v); err == nil {
			v = dv
		}
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, queryParam{k, v})
	}
	return out
}

// signedSubresources is the SDK's list of query parameters that V1 signs
// (conn.go signKeyList); others, like prefix and max-keys, are not signed.
var signedSubresources = func() map[string]bool {
	m := map[string]bool{}
	for _, k := range strings.Fields(`acl uploads location cors logging website referer lifecycle
		delete append tagging objectMeta uploadId partNumber security-token position img style
		styleName replication replicationProgress replicationLocation cname bucketInfo comp qos
		live status vod startTime endTime symlink x-oss-process response-content-type
		x-oss-traffic-limit response-content-language response-expires response-cache-control
		response-content-disposition response-content-encoding udf udfName udfImage udfId
		udfImageDesc udfApplication udfApplicationLog restore callback callback-var qosInfo
		policy stat encryption versions versioning versionId requestPayment x-oss-request-payer
		sequential inventory inventoryId continuation-token asyncFetch worm wormId wormExtend
		withHashContext x-oss-enable-md5 x-oss-enable-sha1 x-oss-enable-sha256 x-oss-hash-ctx
		x-oss-md5-ctx transferAcceleration regionList cloudboxes x-oss-ac-source-ip
		x-oss-ac-subnet-mask x-oss-ac-vpc-id x-oss-ac-forward-allow metaQuery resourceGroup rtc
		x-oss-async-process responseHeader`) {
		m[k] = true
	}
	return m
}()

// stringToSignV1 builds the V1 string to sign:
// VERB \n Content-MD5 \n Content-Type \n Date \n x-oss-headers resource.
func stringToSignV1(method string, h http.Header, bucket, key string, query []queryParam) string {
	var b strings.Builder
	b.WriteString(method + "\n" + h.Get("Content-MD5") + "\n" + h.Get("Content-Type") + "\n" + h.Get("Date") + "\n")
	for _, kv := range ossHeaders(h, false) {
		b.WriteString(kv.Key + ":" + kv.Value + "\n")
	}
	b.WriteString("/")
	if bucket != "" {
		b.WriteString(bucket + "/" + key)
	}
	var sub []queryParam
	for _, q := range query {
		if signedSubresources[q.Key] {
			sub = append(sub, q)
		}
	}
	sort.Slice(sub, func(i, j int) bool { return sub[i].Key < sub[j].Key })
	for i, q := range sub {
		if i == 0 {
			b.WriteByte('?')
		} else {
			b.WriteByte('&')
		}
		b.WriteString(q.Key)
		if q.Value != "" {
			b.WriteString("=" + q.Value)
		}
	}
	return b.String()
}

// ossHeaders returns the x-oss-* headers (plus content-md5/content-type and
// the additional ones for V4), lower-cased and sorted, with their first
// value; V4 trims spaces from values, V1 does not.
func ossHeaders(h http.Header, v4 bool, additional ...string) []queryParam {
	var out []queryParam
	for k, vs := range h {
		lk := strings.ToLower(k)
		include := strings.HasPrefix(lk, "x-oss-")
		if v4 && !include {
			include = lk == "content-md5" || lk == "content-type" || slices.Contains(additional, lk)
		}
		if !include || len(vs) == 0 {
			continue
		}
		v := vs[0]
		if v4 {
			v = strings.Trim(v, " ")
		}
		out = append(out, queryParam{lk, v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

func signV1(secret, stringToSign string) string {
	m := hmac.New(sha1.New, []byte(secret))
	m.Write([]byte(stringToSign))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// escapeV4 is the SDK's V4 escaping: QueryEscape with spaces as %20.
func escapeV4(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}

// canonicalRequestV4 builds the V4 canonical request the way the SDK does:
// every query parameter is signed, the key in the URI keeps its '/'.
// host is the request's Host, signed only when listed in AdditionalHeaders.
func canonicalRequestV4(method string, h http.Header, host, bucket, key string, query []queryParam, additional []string) string {
	var b strings.Builder
	b.WriteString(method + "\n/")
	if bucket != "" {
		b.WriteString(bucket + "/" + strings.ReplaceAll(escapeV4(key), "%2F", "/"))
	}
	b.WriteString("\n")
	enc := make([]queryParam, 0, len(query))
	for _, q := range query {
		v := ""
		if q.Value != "" {
			v = escapeV4(q.Value)
		}
		enc = append(enc, queryParam{url.QueryEscape(q.Key), v})
	}
	sort.Slice(enc, func(i, j int) bool { return enc[i].Key < enc[j].Key })
	for i, q := range enc {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(q.Key)
		if q.Value != "" {
			b.WriteString("=" + q.Value)
		}
	}
	b.WriteString("\n")
	hs := ossHeaders(h, true, additional...)
	if slices.Contains(additional, "host") {
		hs = append(hs, queryParam{"host", strings.Trim(host, " ")})
		sort.Slice(hs, func(i, j int) bool { return hs[i].Key < hs[j].Key })
	}
	for _, kv := range hs {
		b.WriteString(kv.Key + ":" + kv.Value + "\n")
	}
	b.WriteString("\n" + strings.Join(additional, ";") + "\n")
	payload := h.Get("x-oss-content-sha256")
	if payload == "" {
		payload = "UNSIGNED-PAYLOAD"
	}
	b.WriteString(payload)
	return b.String()
}

// stringToSignV4 wraps the hashed canonical request with the signing date
// (x-oss-date, or else the Date header verbatim, as the SDK signs) and the
// credential scope.
func stringToSignV4(signDate string, a authHeader, canonical string) string {
	sum := sha256.Sum256([]byte(canonical))
	return "OSS4-HMAC-SHA256\n" + signDate + "\n" + a.ScopeDate + "/" + a.Region + "/" + a.Product +
		"/aliyun_v4_request\n" + hex.EncodeToString(sum[:])
}

func signV4(secret string, a authHeader, stringToSign string) string {
	k := []byte("aliyun_v4" + secret)
	for _, s := range []string{a.ScopeDate, a.Region, a.Product, "aliyun_v4_request", stringToSign} {
		m := hmac.New(sha256.New, k)
		m.Write([]byte(s))
		k = m.Sum(nil)
	}
	return hex.EncodeToString(k)
}

// signingTime returns the time a request claims to be signed at.
func signingTime(a authHeader, h http.Header) (string, time.Time, error) {
	if a.Scheme == authV4 {
		if d := h.Get("x-oss-date"); d != "" {
			t, err := time.Parse("20060102T150405Z", d)
			return d, t, err
		}
	}
	d := h.Get("Date")
	t, err := http.ParseTime(d)
	return d, t, err
}

// authenticate checks the request's signature against the configured key
// pair. It returns nil for an anonymous server.
func (s *Server) authenticate(r *http.Request, bucket, key string) *ossError {
	if s.cfg.Anonymous {
		return nil
	}
	h := r.Header.Get("Authorization")
	if h == "" {
		return errAccessDenied("AccessDenied: anonymous access is forbidden on this server.")
	}
	a, err := parseAuthorization(h)
	if err != nil {
		return errInvalidArgument("Authorization header is invalid: "+err.Error(), "Authorization", h)
	}
	creds := s.cfg.Credentials
	if a.AccessKeyID != creds.AccessKeyID {
		return newError(http.StatusForbidden, "InvalidAccessKeyId",
			"The OSS Access Key Id you provided does not exist in our records.").with("OSSAccessKeyId", a.AccessKeyID)
	}
	if tok := r.Header.Get("x-oss-security-token"); tok != creds.SessionToken {
		return newError(http.StatusForbidden, "InvalidSecurityToken", "The security token you provided is invalid.")
	}
	signDate, t, err := signingTime(a, r.Header)
	if err != nil {
		return errAccessDenied("OSS authentication requires a valid Date.")
	}
	if now := s.now(); now.Sub(t).Abs() > s.cfg.MaxSkew {
		return newError(http.StatusForbidden, "RequestTimeTooSkewed",
			"The difference between the request time and the current time is too large.").
			with("RequestTime", signDate).
			with("ServerTime", now.UTC().Format(time.RFC3339)).
			with("MaxAllowedSkewMilliseconds", strconv.FormatInt(s.cfg.MaxSkew.Milliseconds(), 10))
	}
	query := parseQuery(r.URL.RawQuery)
	switch a.Scheme {
	case authV1:
		sts := stringToSignV1(r.Method, r.Header, bucket, key, query)
		if !hmac.Equal([]byte(signV1(creds.AccessKeySecret, sts)), []byte(a.Signature)) {
			return errSignature(a, sts, "")
		}
	case authV4:
		if a.ScopeDate != t.UTC().Format("20060102") {
			return errInvalidArgument("Invalid signing date in Authorization header.", "Credential", a.ScopeDate)
		}
		if a.Region == "" || (s.cfg.Region != "" && a.Region != s.cfg.Region) {
			return errInvalidArgument("Invalid signing region in Authorization header.", "Credential", a.Region)
		}
		canon := canonicalRequestV4(r.Method, r.Header, r.Host, bucket, key, query, a.AdditionalHeaders)
		sts := stringToSignV4(signDate, a, canon)
		if !hmac.Equal([]byte(signV4(creds.AccessKeySecret, a, sts)), []byte(a.Signature)) {
			return errSignature(a, sts, canon)
		}
	}
	return nil
}

// errSignature carries what the server signed, as real OSS does, so a
// client's mismatch can be debugged from the response alone.
func errSignature(a authHeader, sts, canonical string) *ossError {
	e := newError(http.StatusForbidden, "SignatureDoesNotMatch",
		"The request signature we calculated does not match the signature you provided. Check your key and signing method.").
		with("StringToSign", sts).
		with("SignatureProvided", a.Signature).
		with("OSSAccessKeyId", a.AccessKeyID)
	if canonical != "" {
		e = e.with("CanonicalRequest", canonical)
	}
	return e
}
