package ossserver

import (
	"encoding/base64"
	"encoding/xml"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// listParams are the parsed query parameters of ListObjects (V1) and
// ListObjectsV2.
type listParams struct {
	V2         bool
	Prefix     string
	Delimiter  string
	MaxKeys    int
	URLEncode  bool   // encoding-type=url
	Marker     string // V1
	StartAfter string // V2
	Token      string // V2 continuation-token, as sent
	FetchOwner bool   // V2
	After      string // list keys strictly after this
}

const defaultMaxKeys = 100

// parseListParams validates the parameters. A continuation token is the
// base64url of the last key or common prefix of the previous page, so it
// is URL-safe and opaque to clients, and survives the SDK's unescaping.
func parseListParams(q url.Values) (listParams, *ossError) {
	p := listParams{
		V2:        q.Get("list-type") == "2",
		Prefix:    q.Get("prefix"),
		Delimiter: q.Get("delimiter"),
		MaxKeys:   defaultMaxKeys,
	}
	if lt := q.Get("list-type"); lt != "" && lt != "2" {
		return p, errInvalidArgument("list-type must be 2.", "list-type", lt)
	}
	if mk := q.Get("max-keys"); mk != "" {
		n, err := strconv.Atoi(mk)
		if err != nil || n < 1 || n > 1000 {
			return p, errInvalidArgument("max-keys must be an integer between 1 and 1000.", "max-keys", mk)
		}
		p.MaxKeys = n
	}
	switch et := q.Get("encoding-type"); et {
	case "":
	case "url":
		p.URLEncode = true
	default:
		return p, errInvalidArgument("encoding-type must be url.", "encoding-type", et)
	}
	if !p.V2 {
		p.Marker = q.Get("marker")
		p.After = p.Marker
		return p, nil
	}
	p.StartAfter = q.Get("start-after")
	p.FetchOwner = q.Get("fetch-owner") == "true"
	p.After = p.StartAfter
	if q.Has("continuation-token") {
		p.Token = q.Get("continuation-token")
		after, err := base64.RawURLEncoding.DecodeString(p.Token)
		if err != nil {
			return p, errInvalidArgument("The continuation token provided is incorrect.", "continuation-token", p.Token)
		}
		p.After = string(after)
	}
	return p, nil
}

// listPage is one page of a listing, before encoding.
type listPage struct {
	Objects   []ObjectInfo
	Prefixes  []string
	Truncated bool
	Next      string // last key or common prefix returned, when Truncated
}

// collectPage walks the bucket and rolls keys up into common prefixes.
// Each common prefix counts against max-keys like a key. A common prefix
// at or before the start position was returned on an earlier page, so its
// keys are skipped rather than reported again.
func collectPage(walk func(prefix, after string, fn WalkFunc) error, p listParams) (listPage, error) {
	var pg listPage
	count := 0
	err := walk(p.Prefix, p.After, func(o ObjectInfo) (string, bool) {
		cp := ""
		if p.Delimiter != "" {
			if i := strings.Index(o.Key[len(p.Prefix):], p.Delimiter); i >= 0 {
				cp = o.Key[:len(p.Prefix)+i+len(p.Delimiter)]
				if cp <= p.After {
					return cp, false
				}
			}
		}
		if count == p.MaxKeys {
			pg.Truncated = true
			return "", true
		}
		count++
		if cp != "" {
			pg.Prefixes = append(pg.Prefixes, cp)
			pg.Next = cp
			return cp, false
		}
		pg.Objects = append(pg.Objects, o)
		pg.Next = o.Key
		return "", false
	})
	if !pg.Truncated {
		pg.Next = ""
	}
	return pg, err
}

// listResult is the XML of both list versions; the pointer fields appear
// only in the version they belong to.
type listResult struct {
	XMLName               xml.Name       `xml:"ListBucketResult"`
	Name                  string         `xml:"Name"`
	Prefix                string         `xml:"Prefix"`
	Marker                *string        `xml:"Marker"`
	ContinuationToken     *string        `xml:"ContinuationToken"`
	StartAfter            *string        `xml:"StartAfter"`
	MaxKeys               int            `xml:"MaxKeys"`
	Delimiter             string         `xml:"Delimiter"`
	EncodingType          string         `xml:"EncodingType,omitempty"`
	IsTruncated           bool           `xml:"IsTruncated"`
	NextMarker            string         `xml:"NextMarker,omitempty"`
	NextContinuationToken string         `xml:"NextContinuationToken,omitempty"`
	KeyCount              *int           `xml:"KeyCount"`
	Contents              []listContent  `xml:"Contents"`
	CommonPrefixes        []commonPrefix `xml:"CommonPrefixes"`
}

type listContent struct {
	Key          string `xml:"Key"`
	LastModified string `xml:"LastModified"`
	ETag         string `xml:"ETag"`
	Type         string `xml:"Type"`
	Size         int64  `xml:"Size"`
	StorageClass string `xml:"StorageClass"`
	Owner        *owner `xml:"Owner"`
}

type commonPrefix struct {
	Prefix string `xml:"Prefix"`
}

type owner struct {
	ID          string `xml:"ID"`
	DisplayName string `xml:"DisplayName"`
}

var serverOwner = owner{ID: "1000000000000000", DisplayName: "1000000000000000"}

// listTime is the time format of listings (the SDK parses it as RFC 3339).
const listTime = "2006-01-02T15:04:05.000Z"

// urlEncode is the encoding of encoding-type=url: the SDK decodes with
// url.QueryUnescape, so '+' must be sent as %2B and a space as %20.
func urlEncode(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}

// listObjects answers ListObjects and ListObjectsV2.
func (s *Server) listObjects(w http.ResponseWriter, r *http.Request, bucket string) {
	p, e := parseListParams(r.URL.Query())
	if e != nil {
		writeError(w, r, e)
		return
	}
	walk := func(prefix, after string, fn WalkFunc) error {
		return s.cfg.Storage.Walk(bucket, prefix, after, fn)
	}
	pg, err := collectPage(walk, p)
	if err != nil {
		writeError(w, r, s.storageError(err, bucket, ""))
		return
	}
	enc := func(s string) string { return s }
	res := listResult{Name: bucket, MaxKeys: p.MaxKeys, IsTruncated: pg.Truncated}
	if p.URLEncode {
		enc = urlEncode
		res.EncodingType = "url"
	}
	res.Prefix, res.Delimiter = enc(p.Prefix), enc(p.Delimiter)
	withOwner := !p.V2 || p.FetchOwner
	if p.V2 {
		sa, tok, kc := enc(p.StartAfter), p.Token, len(pg.Objects)+len(pg.Prefixes)
		res.StartAfter, res.KeyCount = &sa, &kc
		if p.Token != "" {
			res.ContinuationToken = &tok
		}
		if pg.Truncated {
			res.NextContinuationToken = base64.RawURLEncoding.EncodeToString([]byte(pg.Next))
		}
	} else {
		m := enc(p.Marker)
		res.Marker = &m
		if pg.Truncated {
			res.NextMarker = enc(pg.Next)
		}
	}
	for _, o := range pg.Objects {
		class, _ := s.storageClass(bucket, o.Key, o)
		c := listContent{
			Key:          enc(o.Key),
			LastModified: o.LastModified.UTC().Format(listTime),
			ETag:         o.ETag,
			Type:         "Normal",
			Size:         o.Size,
			StorageClass: class,
		}
		if withOwner {
			c.Owner = &serverOwner
		}
		res.Contents = append(res.Contents, c)
	}
	for _, cp := range pg.Prefixes {
		res.CommonPrefixes = append(res.CommonPrefixes, commonPrefix{enc(cp)})
	}
	writeXML(w, res)
}

// writeXML sends a successful XML document.
func writeXML(w http.ResponseWriter, v any) {
	body, err := xml.MarshalIndent(v, "", "  ")
	if err != nil {
		panic(err) // the document types above always marshal
	}
	body = append([]byte(xml.Header), append(body, '\n')...)
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.Write(body)
}

// region is what the server calls its location in bucket descriptions.
func (s *Server) region() string {
	if s.cfg.Region != "" {
		return s.cfg.Region
	}
	return "cn-hangzhou"
}

type bucketEntry struct {
	Name             string `xml:"Name"`
	CreationDate     string `xml:"CreationDate"`
	Location         string `xml:"Location"`
	ExtranetEndpoint string `xml:"ExtranetEndpoint"`
	IntranetEndpoint string `xml:"IntranetEndpoint"`
	Region           string `xml:"Region"`
	StorageClass     string `xml:"StorageClass"`
}

type listBucketsResult struct {
	XMLName     xml.Name      `xml:"ListAllMyBucketsResult"`
	Prefix      *string       `xml:"Prefix"`
	Marker      *string       `xml:"Marker"`
	MaxKeys     *int          `xml:"MaxKeys"`
	IsTruncated *bool         `xml:"IsTruncated"`
	NextMarker  string        `xml:"NextMarker,omitempty"`
	Owner       owner         `xml:"Owner"`
	Buckets     []bucketEntry `xml:"Buckets>Bucket"`
}

// listBuckets answers GET / with prefix, marker and max-keys; the SDK's
// IsBucketExist depends on prefix and max-keys being honoured.
func (s *Server) listBuckets(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	prefix, marker, max := q.Get("prefix"), q.Get("marker"), 1000
	if mk := q.Get("max-keys"); mk != "" {
		n, err := strconv.Atoi(mk)
		if err != nil || n < 1 || n > 1000 {
			writeError(w, r, errInvalidArgument("max-keys must be an integer between 1 and 1000.", "max-keys", mk))
			return
		}
		max = n
	}
	all, err := s.cfg.Storage.Buckets()
	if err != nil {
		writeError(w, r, s.storageError(err, "", ""))
		return
	}
	res := listBucketsResult{Owner: serverOwner}
	truncated := false
	for _, b := range all {
		if !strings.HasPrefix(b.Name, prefix) || b.Name <= marker {
			continue
		}
		if len(res.Buckets) == max {
			truncated = true
			break
		}
		res.Buckets = append(res.Buckets, s.bucketEntry(b))
	}
	if q.Has("prefix") || q.Has("marker") || q.Has("max-keys") {
		res.Prefix, res.Marker, res.MaxKeys, res.IsTruncated = &prefix, &marker, &max, &truncated
		if truncated {
			res.NextMarker = res.Buckets[len(res.Buckets)-1].Name
		}
	}
	writeXML(w, res)
}

func (s *Server) bucketEntry(b BucketInfo) bucketEntry {
	return bucketEntry{
		Name:             b.Name,
		CreationDate:     b.Created.UTC().Format(listTime),
		Location:         "oss-" + s.region(),
		ExtranetEndpoint: "oss-" + s.region() + ".aliyuncs.com",
		IntranetEndpoint: "oss-" + s.region() + "-internal.aliyuncs.com",
		Region:           s.region(),
		StorageClass:     "Standard",
	}
}

type bucketInfoResult struct {
	XMLName xml.Name `xml:"BucketInfo"`
	Bucket  struct {
		bucketEntry
		AccessMonitor      string `xml:"AccessMonitor"`
		DataRedundancyType string `xml:"DataRedundancyType"`
		Owner              owner  `xml:"Owner"`
		Grant              string `xml:"AccessControlList>Grant"`
		SSEAlgorithm       string `xml:"ServerSideEncryptionRule>SSEAlgorithm"`
		Versioning         string `xml:"Versioning"`
	} `xml:"Bucket"`
}

// bucketInfo answers GET /bucket/?bucketInfo: the cheap way to check that
// a bucket exists and the credentials work.
func (s *Server) bucketInfo(w http.ResponseWriter, r *http.Request, bucket string) {
	b, err := s.cfg.Storage.Bucket(bucket)
	if err != nil {
		writeError(w, r, s.storageError(err, bucket, ""))
		return
	}
	var res bucketInfoResult
	res.Bucket.bucketEntry = s.bucketEntry(b)
	res.Bucket.AccessMonitor = "Disabled"
	res.Bucket.DataRedundancyType = "LRS"
	res.Bucket.Owner = serverOwner
	res.Bucket.Grant = "private"
	res.Bucket.SSEAlgorithm = "None"
	res.Bucket.Versioning = "Disabled"
	writeXML(w, res)
}

// bucketLocation answers GET /bucket/?location.
func (s *Server) bucketLocation(w http.ResponseWriter, r *http.Request, bucket string) {
	if _, err := s.cfg.Storage.Bucket(bucket); err != nil {
		writeError(w, r, s.storageError(err, bucket, ""))
		return
	}
	writeXML(w, struct {
		XMLName xml.Name `xml:"LocationConstraint"`
		Value   string   `xml:",chardata"`
	}{Value: "oss-" + s.region()})
}
