package ossserver_test

import (
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/aliyun-oss-go-sdk/oss"

	"github.com/ossmount/ossmount/internal/ossserver/ossservertest"
)

// oddKeys are keys that trip up encoders, sorters and filesystems.
var oddKeys = []string{
	"a", "a/b", "a//b", "a/", "a-b", "a0",
	"dir/b c+d.txt", "dir/zz%odd.txt", "dir/%41", "dir/ünïcødé/ê.txt", "dir/日本語", "dir/emoji😀",
	"dir/sub/x", "dir/sub/y", "dir/sub2/z", "dir/plus+", "dir/ space", "dir/amp&lt;<>\"'",
	"long/" + strings.Repeat("k", 300), "long/" + strings.Repeat("é", 200),
	"top.txt", "~tilde", "?question", "#hash",
}

// reference lists keys the way OSS defines it, in one page.
func reference(keys []string, prefix, delimiter string) (objects, prefixes []string) {
	keys = slices.Clone(keys)
	sort.Strings(keys)
	seen := map[string]bool{}
	for _, k := range keys {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		if delimiter != "" {
			if i := strings.Index(k[len(prefix):], delimiter); i >= 0 {
				cp := k[:len(prefix)+i+len(delimiter)]
				if !seen[cp] {
					seen[cp] = true
					prefixes = append(prefixes, cp)
				}
				continue
			}
		}
		objects = append(objects, k)
	}
	return objects, prefixes
}

func TestListObjectsPagination(t *testing.T) {
	for _, s := range signings[:3] {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			_, mem, b := startWith(t, s, "bkt")
			for _, k := range oddKeys {
				mem.Put("bkt", k, []byte(k))
			}
			for _, prefix := range []string{"", "dir/", "a", "long/", "nomatch"} {
				for _, delim := range []string{"", "/"} {
					wantObj, wantPfx := reference(oddKeys, prefix, delim)
					for _, maxKeys := range []int{1, 2, 3, 1000} {
						name := fmt.Sprintf("prefix=%q delimiter=%q max-keys=%d", prefix, delim, maxKeys)
						obj, pfx := listAllV1(t, b, prefix, delim, maxKeys)
						if !slices.Equal(obj, wantObj) || !slices.Equal(pfx, wantPfx) {
							t.Errorf("V1 %s:\n got %q %q\nwant %q %q", name, obj, pfx, wantObj, wantPfx)
						}
						obj, pfx = listAllV2(t, b, prefix, delim, maxKeys)
						if !slices.Equal(obj, wantObj) || !slices.Equal(pfx, wantPfx) {
							t.Errorf("V2 %s:\n got %q %q\nwant %q %q", name, obj, pfx, wantObj, wantPfx)
						}
					}
				}
			}
		})
	}
}

func listAllV1(t *testing.T, b *oss.Bucket, prefix, delim string, maxKeys int) (objects, prefixes []string) {
	t.Helper()
	marker := ""
	for page := 0; ; page++ {
		res, err := b.ListObjects(oss.Prefix(prefix), oss.Delimiter(delim), oss.MaxKeys(maxKeys), oss.Marker(marker))
		if err != nil {
			t.Fatal(err)
		}
		if n := len(res.Objects) + len(res.CommonPrefixes); n > maxKeys || (res.IsTruncated && n == 0) {
			t.Fatalf("page of %d entries with max-keys %d", n, maxKeys)
		}
		for _, o := range res.Objects {
			objects = append(objects, o.Key)
			if o.LastModified.IsZero() || o.Size < 0 || !etagForm.MatchString(o.ETag) || o.Type != "Normal" {
				t.Errorf("object %+v", o)
			}
		}
		prefixes = append(prefixes, res.CommonPrefixes...)
		if !res.IsTruncated {
			if res.NextMarker != "" {
				t.Errorf("NextMarker %q on the last page", res.NextMarker)
			}
			return objects, prefixes
		}
		marker = res.NextMarker
		if page > 100 {
			t.Fatal("listing does not end")
		}
	}
}

func listAllV2(t *testing.T, b *oss.Bucket, prefix, delim string, maxKeys int) (objects, prefixes []string) {
	t.Helper()
	token := ""
	for page := 0; ; page++ {
		res, err := b.ListObjectsV2(oss.Prefix(prefix), oss.Delimiter(delim), oss.MaxKeys(maxKeys), oss.ContinuationToken(token))
		if err != nil {
			t.Fatal(err)
		}
		if n := len(res.Objects) + len(res.CommonPrefixes); n > maxKeys || (res.IsTruncated && n == 0) {
			t.Fatalf("page of %d entries with max-keys %d", n, maxKeys)
		}
		for _, o := range res.Objects {
			objects = append(objects, o.Key)
		}
		prefixes = append(prefixes, res.CommonPrefixes...)
		if !res.IsTruncated {
			if res.NextContinuationToken != "" {
				t.Errorf("NextContinuationToken %q on the last page", res.NextContinuationToken)
			}
			return objects, prefixes
		}
		token = res.NextContinuationToken
		if page > 100 {
			t.Fatal("listing does not end")
		}
	}
}

func TestListObjectsV2StartAfterAndOwner(t *testing.T) {
	_, mem, b := startWith(t, signings[1], "bkt")
	for _, k := range []string{"a", "b", "c/d", "c/e", "f"} {
		mem.Put("bkt", k, nil)
	}
	res, err := b.ListObjectsV2(oss.StartAfter("b"), oss.Delimiter("/"), oss.FetchOwner(true))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Objects) != 1 || res.Objects[0].Key != "f" || !slices.Equal(res.CommonPrefixes, []string{"c/"}) {
		t.Errorf("got %+v %q", res.Objects, res.CommonPrefixes)
	}
	if res.StartAfter != "b" || res.Objects[0].Owner.ID == "" {
		t.Errorf("StartAfter %q, owner %+v", res.StartAfter, res.Objects[0].Owner)
	}
	// A page that ends on a common prefix continues after all its keys.
	res, err = b.ListObjectsV2(oss.Delimiter("/"), oss.MaxKeys(3))
	if err != nil || !res.IsTruncated || !slices.Equal(res.CommonPrefixes, []string{"c/"}) {
		t.Fatalf("page 1: %v %+v", err, res)
	}
	res, err = b.ListObjectsV2(oss.Delimiter("/"), oss.MaxKeys(3), oss.ContinuationToken(res.NextContinuationToken))
	if err != nil || res.IsTruncated || len(res.Objects) != 1 || res.Objects[0].Key != "f" || len(res.CommonPrefixes) != 0 {
		t.Fatalf("page 2: %v %+v", err, res)
	}
}

func TestListObjectsInvalidArguments(t *testing.T) {
	_, _, b := startWith(t, signings[0], "bkt")
	for _, n := range []int{0, -1, 1001} {
		_, err := b.ListObjects(oss.MaxKeys(n))
		wantCode(t, err, "InvalidArgument", 400)
		_, err = b.ListObjectsV2(oss.MaxKeys(n))
		wantCode(t, err, "InvalidArgument", 400)
	}
	_, err := b.ListObjectsV2(oss.ContinuationToken("not base64!"))
	wantCode(t, err, "InvalidArgument", 400)
}

func TestListBucketsAndBucketInfo(t *testing.T) {
	for _, s := range signings[:2] {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			r, mem, b := startWith(t, s, "bkt")
			for _, name := range []string{"alpha", "bkt-2", "zeta"} {
				mem.CreateBucket(name)
			}
			client := b.Client
			for name, want := range map[string]bool{"bkt": true, "bkt-2": true, "bk": false, "nope": false} {
				if ok, err := client.IsBucketExist(name); ok != want || err != nil {
					t.Errorf("IsBucketExist(%q) = %v, %v", name, ok, err)
				}
			}
			var names []string
			marker := ""
			for {
				res, err := client.ListBuckets(oss.MaxKeys(2), oss.Marker(marker))
				if err != nil {
					t.Fatal(err)
				}
				for _, bp := range res.Buckets {
					names = append(names, bp.Name)
				}
				if !res.IsTruncated {
					break
				}
				marker = res.NextMarker
			}
			if !slices.Equal(names, []string{"alpha", "bkt", "bkt-2", "zeta"}) {
				t.Errorf("buckets %q", names)
			}
			res, err := client.ListBuckets(oss.Prefix("bkt"))
			if err != nil || len(res.Buckets) != 2 {
				t.Errorf("prefix bkt: %v %+v", err, res.Buckets)
			}

			info, err := client.GetBucketInfo("bkt")
			if err != nil || info.BucketInfo.Name != "bkt" || info.BucketInfo.Location == "" || info.BucketInfo.CreationDate.IsZero() {
				t.Errorf("GetBucketInfo: %v %+v", err, info)
			}
			_, err = client.GetBucketInfo("nope")
			wantCode(t, err, "NoSuchBucket", 404)
			if loc, err := client.GetBucketLocation("bkt"); err != nil || loc == "" {
				t.Errorf("GetBucketLocation: %q %v", loc, err)
			}
			_ = r
		})
	}
}

// TestListRawXML checks what the SDK does not expose: KeyCount, the
// url-encoding of every field, and that the optional fields appear only
// when they should.
func TestListRawXML(t *testing.T) {
	r, mem, creds := ossservertest.Start(t)
	mem.Put("bkt", "d/a+b c", nil)
	mem.Put("bkt", "d/e/f", nil)
	mem.Put("bkt", "g", nil)
	req, _ := http.NewRequest("GET", r.Endpoint+"/bkt/?list-type=2&encoding-type=url&delimiter=%2F&prefix=d%2F&max-keys=1", nil)
	signV1(req, creds, "/bkt/", time.Now())
	resp := do(t, req)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/xml" {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	var res struct {
		Prefix, Delimiter, NextContinuationToken string
		KeyCount                                 int
		IsTruncated                              bool
		Contents                                 []struct{ Key, LastModified string }
	}
	if err := xml.Unmarshal(body, &res); err != nil {
		t.Fatal(err)
	}
	if res.Prefix != "d%2F" || res.Delimiter != "%2F" || res.KeyCount != 1 || !res.IsTruncated ||
		len(res.Contents) != 1 || res.Contents[0].Key != "d%2Fa%2Bb%20c" || res.NextContinuationToken == "" {
		t.Errorf("%s", body)
	}
	if _, err := time.Parse("2006-01-02T15:04:05.000Z", res.Contents[0].LastModified); err != nil {
		t.Errorf("LastModified: %v", err)
	}
	if strings.Contains(string(body), "<Marker>") || strings.Contains(string(body), "<Owner>") {
		t.Errorf("V2 listing has V1 fields: %s", body)
	}
}
