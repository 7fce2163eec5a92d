package rangefetch_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/ossmount/ossmount/internal/ossserver"
	"github.com/ossmount/ossmount/internal/testutil"
	"github.com/ossmount/ossmount/object"
	"github.com/ossmount/ossmount/rangefetch"
)

// TestStatListReadSignVersions runs the read path with signature V1, V4
// and V4 with an STS token against the local server and the real SDK.
func TestStatListReadSignVersions(t *testing.T) {
	for _, tc := range []struct {
		name string
		sign int
		sts  bool
	}{{"V1", 1, false}, {"V4", 4, false}, {"V4-STS", 4, true}} {
		t.Run(tc.name, func(t *testing.T) {
			var e *env
			if tc.sts {
				e = newSTSEnv(t)
			} else {
				e = newEnv(t, func(c *rangefetch.Config) { c.SignVersion = tc.sign })
			}
			data := testutil.RandomBytes(7, 1<<20+123)
			e.store.Put(testBucket, "dir/obj.bin", data)
			e.store.Put(testBucket, "dir/a b+c%d.txt", []byte("hello"))
			e.store.Put(testBucket, "dir/sub/x", []byte("x"))
			e.store.Put(testBucket, "top.txt", []byte("top"))
			ctx := context.Background()

			if err := e.client.CheckBucket(ctx, testBucket); err != nil {
				t.Fatal(err)
			}
			info, err := e.client.Stat(ctx, testBucket, "dir/obj.bin")
			if err != nil {
				t.Fatal(err)
			}
			if info.Size != int64(len(data)) || !info.HasCRC64 || info.CRC64 != object.CRC64(data, 0) ||
				!strings.HasPrefix(info.ETag, `"`) || info.LastModified.IsZero() || info.StorageClass != "Standard" {
				t.Fatalf("Stat = %+v", info)
			}

			// Byte-exact ranges, including the first and the last byte.
			buf := newObjectBuffer(info.Size)
			for _, r := range []object.Range{{Off: 0, Len: 1}, {Off: 1, Len: 4096}, {Off: 300_000, Len: 500_000}, {Off: info.Size - 1, Len: 1}, {Off: 0, Len: info.Size}} {
				if err := e.client.ReadRange(ctx, info.Ref(), r.Off, r.Len, buf); err != nil {
					t.Fatalf("ReadRange%v: %v", r, err)
				}
				assertRange(t, buf, data, r.Off, r.Len)
			}

			page, err := e.client.ListPage(ctx, testBucket, "dir/", "", 0)
			if err != nil {
				t.Fatal(err)
			}
			var keys []string
			for _, o := range page.Objects {
				keys = append(keys, fmt.Sprintf("%s:%d", o.Key, o.Size))
			}
			if got := fmt.Sprint(keys, page.Prefixes, page.NextToken); got != "[dir/a b+c%d.txt:5 dir/obj.bin:1048699] [dir/sub/]" {
				t.Fatalf("ListPage = %s", got)
			}
			if page.Objects[1].ETag != info.ETag {
				t.Fatalf("listed ETag %s, HEAD ETag %s", page.Objects[1].ETag, info.ETag)
			}
		})
	}
}

// newSTSEnv starts a server that requires a session token.
func newSTSEnv(t *testing.T) *env {
	t.Helper()
	store := ossserver.NewMemStorage()
	store.CreateBucket(testBucket)
	creds := ossserver.Credentials{AccessKeyID: "STS.id-for-test", AccessKeySecret: "sts-secret-for-test", SessionToken: "STS.session-token"}
	srv, err := ossserver.Listen("127.0.0.1:0", ossserver.Config{Storage: store, Credentials: creds})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	e := &env{srv: srv, store: store, creds: creds}
	e.client = e.newClient(t, nil)

	// The token is really checked: without it the server refuses.
	noToken := e.newClient(t, func(c *rangefetch.Config) { c.Credentials.SessionToken = "" })
	if err := noToken.CheckBucket(context.Background(), testBucket); !errors.Is(err, rangefetch.ErrAccessDenied) {
		t.Fatalf("without the STS token: %v", err)
	}
	return e
}

func TestListPagination(t *testing.T) {
	e := newEnv(t, nil)
	var want []string
	for i := range 7 {
		k := fmt.Sprintf("p/k%02d", i)
		e.store.Put(testBucket, k, []byte{byte(i)})
		want = append(want, k)
	}
	e.store.Put(testBucket, "p/z/inner", nil)
	want = append(want, "p/z/")
	var got []string
	token, pages := "", 0
	for {
		page, err := e.client.ListPage(context.Background(), testBucket, "p/", token, 3)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, o := range page.Objects {
			got = append(got, o.Key)
		}
		got = append(got, page.Prefixes...)
		if token = page.NextToken; token == "" {
			break
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) || pages != 3 {
		t.Fatalf("pages=%d keys=%v, want %v", pages, got, want)
	}
}

func TestWrongSecretIsAccessDeniedWithHint(t *testing.T) {
	e := newEnv(t, nil)
	e.store.Put(testBucket, "k", []byte("data"))
	const badSecret = "definitely-not-the-secret"
	bad := e.newClient(t, func(c *rangefetch.Config) { c.Credentials.AccessKeySecret = badSecret })
	ctx := context.Background()
	for name, err := range map[string]error{
		"CheckBucket": bad.CheckBucket(ctx, testBucket),
		"Stat":        statErr(bad, testBucket, "k"),
		"ReadRange":   bad.ReadRange(ctx, object.Ref{Bucket: testBucket, Key: "k"}, 0, 4, newObjectBuffer(4)),
	} {
		if !errors.Is(err, rangefetch.ErrAccessDenied) {
			t.Errorf("%s: %v, want ErrAccessDenied", name, err)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, "OSS_ACCESS_KEY_SECRET") || strings.ContainsAny(msg, "<\n") || strings.Contains(msg, badSecret) {
			t.Errorf("%s: message %q should be one line naming OSS_ACCESS_KEY_SECRET, without XML or the secret", name, msg)
		}
		var fe *rangefetch.Error
		if !errors.As(err, &fe) || fe.StatusCode != 403 || fe.Code != "SignatureDoesNotMatch" {
			t.Errorf("%s: %#v", name, fe)
		}
	}
	// A wrong key id points at the key id instead.
	badID := e.newClient(t, func(c *rangefetch.Config) { c.Credentials.AccessKeyID = "LTAIunknownkeyid" })
	if err := badID.CheckBucket(ctx, testBucket); !errors.Is(err, rangefetch.ErrAccessDenied) || !strings.Contains(err.Error(), "OSS_ACCESS_KEY_ID") {
		t.Errorf("wrong key id: %v", err)
	}
}

func statErr(c *rangefetch.Client, bucket, key string) error {
	_, err := c.Stat(context.Background(), bucket, key)
	return err
}

func TestUnknownBucketAndMissingKey(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	err := e.client.CheckBucket(ctx, "no-such-bucket")
	if !errors.Is(err, rangefetch.ErrNoSuchBucket) || !strings.Contains(err.Error(), "bucket name") {
		t.Fatalf("CheckBucket: %v", err)
	}
	if _, err := e.client.ListPage(ctx, "no-such-bucket", "", "", 0); !errors.Is(err, rangefetch.ErrNoSuchBucket) {
		t.Fatalf("ListPage: %v", err)
	}
	if err := e.client.ReadRange(ctx, object.Ref{Bucket: "no-such-bucket", Key: "k"}, 0, 1, newObjectBuffer(1)); !errors.Is(err, rangefetch.ErrNoSuchBucket) {
		t.Fatalf("ReadRange: %v", err)
	}
	if err := statErr(e.client, "no-such-bucket", "k"); !errors.Is(err, rangefetch.ErrNoSuchBucket) && !errors.Is(err, rangefetch.ErrNotFound) {
		t.Fatalf("Stat: %v", err)
	}

	err = statErr(e.client, testBucket, "missing/key")
	if !errors.Is(err, rangefetch.ErrNotFound) || errors.Is(err, rangefetch.ErrNoSuchBucket) {
		t.Fatalf("Stat missing key: %v", err)
	}
	if err := e.client.ReadRange(ctx, object.Ref{Bucket: testBucket, Key: "missing/key"}, 0, 1, newObjectBuffer(1)); !errors.Is(err, rangefetch.ErrNotFound) {
		t.Fatalf("ReadRange missing key: %v", err)
	}
	// Not retried: one request each.
	if st := e.srv.Stats(); st.Gets != 2 {
		t.Fatalf("4xx was retried: %+v", st)
	}
	// A malformed bucket name never reaches the server.
	if err := e.client.CheckBucket(ctx, "Bad_Bucket"); err == nil || !strings.Contains(err.Error(), "lower-case") {
		t.Fatalf("bad bucket name: %v", err)
	}
}

func TestArchivedObject(t *testing.T) {
	e := newEnv(t, nil)
	e.store.Put(testBucket, "cold", []byte("frozen bytes"))
	e.srv.SetStorageClass(testBucket, "cold", "Archive")
	ctx := context.Background()
	info, err := e.client.Stat(ctx, testBucket, "cold")
	if err != nil || info.StorageClass != "Archive" {
		t.Fatalf("Stat: %+v %v", info, err)
	}
	err = e.client.ReadRange(ctx, info.Ref(), 0, info.Size, newObjectBuffer(info.Size))
	if !errors.Is(err, rangefetch.ErrArchived) || !strings.Contains(err.Error(), "restore") {
		t.Fatalf("ReadRange: %v", err)
	}
	e.srv.Restore(testBucket, "cold")
	buf := newObjectBuffer(info.Size)
	if err := e.client.ReadRange(ctx, info.Ref(), 0, info.Size, buf); err != nil || string(buf.data) != "frozen bytes" {
		t.Fatalf("after restore: %q %v", buf.data, err)
	}
}

func TestObjectChangedIs412(t *testing.T) {
	e := newEnv(t, nil)
	e.store.Put(testBucket, "k", testutil.RandomBytes(1, 4096))
	ctx := context.Background()
	old, err := e.client.Stat(ctx, testBucket, "k")
	if err != nil {
		t.Fatal(err)
	}
	e.store.Put(testBucket, "k", testutil.RandomBytes(2, 4096))
	err = e.client.ReadRange(ctx, old.Ref(), 0, 100, newObjectBuffer(4096))
	if !errors.Is(err, rangefetch.ErrObjectChanged) {
		t.Fatalf("ReadRange with old ETag: %v", err)
	}
	var fe *rangefetch.Error
	if !errors.As(err, &fe) || fe.StatusCode != 412 || fe.Key != "k" {
		t.Fatalf("error detail: %#v", fe)
	}
	if st := e.srv.Stats(); st.Gets != 1 {
		t.Fatalf("412 was retried: %d GETs", st.Gets)
	}
}

func TestInvalidRange(t *testing.T) {
	e := newEnv(t, nil)
	e.store.Put(testBucket, "k", make([]byte, 100))
	info, err := e.client.Stat(context.Background(), testBucket, "k")
	if err != nil {
		t.Fatal(err)
	}
	err = e.client.ReadRange(context.Background(), info.Ref(), 100, 10, newObjectBuffer(200))
	if !errors.Is(err, rangefetch.ErrInvalidRange) {
		t.Fatalf("past EOF: %v", err)
	}
	// A range running past the end gets fewer bytes than asked: refused, not
	// silently short.
	err = e.client.ReadRange(context.Background(), info.Ref(), 90, 20, newObjectBuffer(200))
	if !errors.Is(err, rangefetch.ErrInvalidRange) || !strings.Contains(err.Error(), "past the object size 100") {
		t.Fatalf("range crossing EOF: %v", err)
	}
	if err := e.client.ReadRange(context.Background(), info.Ref(), -1, 10, newObjectBuffer(200)); !errors.Is(err, rangefetch.ErrInvalidRange) {
		t.Fatalf("negative offset: %v", err)
	}
}
