package ossserver_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aliyun/aliyun-oss-go-sdk/oss"

	"github.com/ossmount/ossmount/internal/ossserver"
	"github.com/ossmount/ossmount/internal/testutil"
)

// TestDownloadFile runs the SDK's own parallel, CRC-checked download.
func TestDownloadFile(t *testing.T) {
	for _, s := range signings {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			r, mem, b := startWith(t, s, "bkt")
			data := testutil.RandomBytes(7, 5<<20+123)
			mem.Put("bkt", "big/file.bin", data)
			dst := filepath.Join(t.TempDir(), "out.bin")
			if err := b.DownloadFile("big/file.bin", dst, 1<<20, oss.Routines(4)); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(dst)
			if err != nil || string(got) != string(data) {
				t.Fatalf("downloaded file differs (err %v)", err)
			}
			st := r.Stats()
			if st.Heads != 1 || st.Gets != 6 || st.PartialGets != 6 || st.BodyBytes != int64(len(data)) {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func TestFaultSlowDown(t *testing.T) {
	r, mem, b := startWith(t, signings[0], "bkt")
	mem.Put("bkt", "k", []byte("data"))
	r.SetFaults(ossserver.Faults{SlowDownFraction: 1})
	_, err := b.GetObject("k")
	wantCode(t, err, "SlowDown", 503)
	if _, err := b.GetObjectDetailedMeta("k"); err != nil {
		t.Errorf("HEAD is not a GET and must not slow down: %v", err)
	}
	if st := r.Stats(); st.SlowDowns != 1 || st.Gets != 1 {
		t.Errorf("stats %+v", st)
	}
	r.SetFaults(ossserver.Faults{})
	if rc, err := b.GetObject("k"); err != nil {
		t.Errorf("after clearing faults: %v", err)
	} else {
		rc.Close()
	}
}

func TestFaultCutBody(t *testing.T) {
	r, mem, b := startWith(t, signings[1], "bkt")
	data := testutil.RandomBytes(3, 1<<20)
	mem.Put("bkt", "k", data)
	r.SetFaults(ossserver.Faults{CutBodyFraction: 1})
	for range 5 {
		rc, err := b.GetObject("k")
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err == nil || len(got) >= len(data) || string(got) != string(data[:len(got)]) {
			t.Fatalf("cut body: read %d bytes, err %v", len(got), err)
		}
	}
	if st := r.Stats(); st.CutBodies != 5 {
		t.Errorf("stats %+v", st)
	}
}

func TestFaultFlipByte(t *testing.T) {
	r, mem, b := startWith(t, signings[0], "bkt")
	data := testutil.RandomBytes(4, 300<<10)
	mem.Put("bkt", "k", data)
	r.SetFaults(ossserver.Faults{FlipByteFraction: 1})
	rc, err := b.GetObject("k")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || len(got) != len(data) {
		t.Fatalf("read %d bytes, err %v", len(got), err)
	}
	diff := 0
	for i := range got {
		if got[i] != data[i] {
			diff++
		}
	}
	if diff != 1 {
		t.Errorf("%d bytes differ, want 1", diff)
	}
}

func TestFaultWrongCRC(t *testing.T) {
	r, mem, b := startWith(t, signings[1], "bkt")
	data := testutil.RandomBytes(5, 3<<20)
	mem.Put("bkt", "k", data)
	r.SetFaults(ossserver.Faults{WrongCRC: true})
	h, err := b.GetObjectDetailedMeta("k")
	if err != nil || h.Get("X-Oss-Hash-Crc64ecma") == strconv.FormatUint(crc(data), 10) {
		t.Fatalf("HEAD: %v, crc %s", err, h.Get("X-Oss-Hash-Crc64ecma"))
	}
	err = b.DownloadFile("k", filepath.Join(t.TempDir(), "out"), 1<<20, oss.Routines(3))
	var crcErr oss.CRCCheckError
	if !errors.As(err, &crcErr) {
		t.Fatalf("DownloadFile: %v, want a CRC error", err)
	}
}

// TestFaultShapingKeepsBytes runs paced, delayed GETs in parallel while the
// faults change underneath (for the race detector); bodies stay intact.
func TestFaultShapingKeepsBytes(t *testing.T) {
	r, mem, b := startWith(t, signings[0], "bkt")
	data := testutil.RandomBytes(6, 200<<10)
	mem.Put("bkt", "k", data)
	r.SetFaults(ossserver.Faults{FirstByteLatency: time.Millisecond, BytesPerSecond: 32 << 20})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			rc, err := b.GetObject("k")
			if err != nil {
				errs <- err
				return
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if err != nil || string(got) != string(data) {
				errs <- errors.New("paced body differs")
			}
		})
	}
	r.SetFaults(ossserver.Faults{BytesPerSecond: 16 << 20})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if f := r.Faults(); f.BytesPerSecond != 16<<20 {
		t.Errorf("Faults() = %+v", f)
	}
}

func TestStats(t *testing.T) {
	r, mem, b := startWith(t, signings[0], "bkt")
	mem.Put("bkt", "k", []byte("0123456789"))
	rc, _ := b.GetObject("k", oss.Range(0, 3))
	io.Copy(io.Discard, rc)
	rc.Close()
	b.GetObjectDetailedMeta("k")
	b.ListObjects()
	b.ListObjectsV2()
	b.Client.GetBucketInfo("bkt")
	want := ossserver.Stats{Gets: 1, Heads: 1, Lists: 2, Others: 1, BodyBytes: 4, PartialGets: 1}
	if st := r.Stats(); st != want {
		t.Errorf("Stats() = %+v, want %+v", st, want)
	}
	resp, err := http.Get(r.Endpoint + "/-/stats") // no signature needed
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got ossserver.Stats
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || got != want {
		t.Errorf("/-/stats = %+v (%v), want %+v", got, err, want)
	}
	r.ResetStats()
	if st := r.Stats(); st != (ossserver.Stats{}) {
		t.Errorf("after reset: %+v", st)
	}
}

// TestBodyBytesCountedBeforeTheClientHasThem: once a client has read a
// body, Stats already counts all of it, so tests can compare at once
// instead of polling. Large bodies are written straight to the socket,
// where the client can finish reading before the handler's Write returns.
func TestBodyBytesCountedBeforeTheClientHasThem(t *testing.T) {
	r, mem, b := startWith(t, signings[0], "bkt")
	data := testutil.RandomBytes(9, 600<<10+7)
	mem.Put("bkt", "k", data)
	var want int64
	for i := range 20 {
		rc, err := b.GetObject("k")
		if err != nil {
			t.Fatal(err)
		}
		n, err := io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil || n != int64(len(data)) {
			t.Fatalf("GET %d: %d bytes, %v", i, n, err)
		}
		want += n
		if got := r.Stats().BodyBytes; got != want {
			t.Fatalf("after GET %d the client has %d bytes and the server counts %d", i, want, got)
		}
	}
}
