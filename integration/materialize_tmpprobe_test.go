package integration

import (
	"fmt"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ossmount/ossmount/cache"
	"github.com/ossmount/ossmount/cache/materialize"
	"github.com/ossmount/ossmount/integration/ossserver"
	"github.com/ossmount/ossmount/rangefetch"
)

func TestTmpProbe(t *testing.T) {
	if os.Getenv("PROBE") == "" {
		t.Skip()
	}
	size := int64(probeInt("PROBE_MB", 1024)) << 20
	srv, mem, creds := ossserver.StartTest(t)
	mem.Put(matBucket, matBenchKey, randomBytes(60, int(size)))
	srv.SetFaults(ossserver.Faults{FirstByteLatency: matBenchFirstByte, BytesPerSecond: matBenchPerStream})
	client, _ := rangefetch.New(rangefetch.Config{Endpoint: srv.Endpoint,
		Credentials: rangefetch.Credentials{AccessKeyID: creds.AccessKeyID, AccessKeySecret: creds.AccessKeySecret},
		MaxConns:    materialize.Connections(materialize.DefaultThreads)})
	dir, _ := os.MkdirTemp("/dev/shm", "probe")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	for r := 0; r < 4; r++ {
		cd := filepath.Join(dir, "c")
		t0 := time.Now()
		c, err := cache.Open(cache.Options{Dir: cd, MaxBytes: 4 * size}, client)
		if err != nil {
			t.Fatal(err)
		}
		t1 := time.Now()
		info, _ := client.Stat(ctx, matBucket, matBenchKey)
		h, _ := c.Open(ctx, info)
		t2 := time.Now()
		var first time.Time
		err = h.FetchAllWith(ctx, cache.FetchOptions{Workers: int(probeInt("PROBE_W", 32)), RunBytes: probeInt("PROBE_RUN", 8) << 20,
			Progress: func(d, tot int64) {
				if d > 0 && first.IsZero() {
					first = time.Now()
				}
			}})
		if err != nil {
			t.Fatal(err)
		}
		t3 := time.Now()
		if err := h.VerifyComplete(ctx); err != nil {
			t.Fatal(err)
		}
		t4 := time.Now()
		dst := filepath.Join(dir, "out")
		if err := h.Detach(dst); err != nil {
			t.Fatal(err)
		}
		h.Close()
		t5 := time.Now()
		c.Close()
		t6 := time.Now()
		os.RemoveAll(cd)
		os.Remove(dst)
		t7 := time.Now()
		t.Logf("open %v stat+open %v fetch %v (first progress %v) verify %v detach %v close %v rm %v total %v",
			t1.Sub(t0), t2.Sub(t1), t3.Sub(t2), first.Sub(t2), t4.Sub(t3), t5.Sub(t4), t6.Sub(t5), t7.Sub(t6), t7.Sub(t0))
	}
}

func probeInt(name string, def int64) int64 {
	var v int64
	if _, err := fmt.Sscan(os.Getenv(name), &v); err == nil {
		return v
	}
	return def
}
