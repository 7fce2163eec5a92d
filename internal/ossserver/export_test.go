package ossserver

import (
	"net/url"
	"time"
)

// Bridges for the external tests: the request parsers are pure functions,
// fuzzed from package ossserver_test.

// Range outcomes.
const (
	RangeWhole   = int(rangeWhole)
	RangePartial = int(rangePartial)
	RangeInvalid = int(rangeInvalid)
)

func ResolveRange(header string, size int64, standard bool) (outcome int, start, end int64) {
	o, r := resolveRange(header, size, standard)
	return int(o), r.Start, r.End
}

type ListParams = listParams

func ParseListParams(q url.Values) (ListParams, error) {
	p, e := parseListParams(q)
	if e != nil {
		return p, e
	}
	return p, nil
}

// ListPage pages through a sorted key set the way the server does.
func ListPage(keys []string, p ListParams) (objects, prefixes []string, next string, truncated bool) {
	m := NewMemStorage()
	m.CreateBucket("b")
	for _, k := range keys {
		m.Put("b", k, nil)
	}
	pg, err := collectPage(func(prefix, after string, fn WalkFunc) error {
		return m.Walk("b", prefix, after, fn)
	}, p)
	if err != nil {
		panic(err)
	}
	for _, o := range pg.Objects {
		objects = append(objects, o.Key)
	}
	return objects, pg.Prefixes, pg.Next, pg.Truncated
}

type AuthHeader = authHeader

func ParseAuthorization(h string) (AuthHeader, error) { return parseAuthorization(h) }

func (a AuthHeader) IsV4() bool { return a.Scheme == authV4 }

func EvalConditions(h map[string][]string, etag string, modified int64) (int, string) {
	return evalConditions(h, etag, unixTime(modified))
}

func unixTime(s int64) time.Time { return time.Unix(s, 0) }
