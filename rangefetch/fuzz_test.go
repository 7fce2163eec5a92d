package rangefetch_test

import (
	"strings"
	"testing"

	"github.com/ossmount/ossmount/rangefetch"
)

func FuzzParseURL(f *testing.F) {
	for _, s := range []string{"oss://bucket/key", "oss://b", "oss://abc/", "OSS://abc/a/b/c", "oss://-x/", "s3://x/y", "oss://abc//k"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := rangefetch.ParseURL(s)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error %q", err)
			}
			return
		}
		if rangefetch.ValidateBucketName(u.Bucket) != nil {
			t.Fatalf("accepted bad bucket %q", u.Bucket)
		}
		// Round trip: the parsed URL renders and parses back to itself.
		u2, err := rangefetch.ParseURL(u.String())
		if err != nil || u2 != u {
			t.Fatalf("round trip %q -> %+v -> %q -> %+v, %v", s, u, u.String(), u2, err)
		}
	})
}

func FuzzParseContentRange(f *testing.F) {
	for _, s := range []string{"bytes 0-0/1", "bytes 2-5/20", "bytes 0-9/*", "bytes 5-2/3", "bytes -/", "bytes 1-2/3/4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		first, last, total, err := rangefetch.ParseContentRange(s)
		if err != nil {
			return
		}
		if first < 0 || last < first || (total != -1 && last >= total) {
			t.Fatalf("%q parsed to inconsistent %d-%d/%d", s, first, last, total)
		}
	})
}
