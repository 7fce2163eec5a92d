package integration

import (
	"io"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/ossmount/ossmount/integration/ossserver"
)

func envInt(name string, def int64) int64 {
	if v, err := strconv.ParseInt(os.Getenv(name), 10, 64); err == nil {
		return v
	}
	return def
}

func TestZZPerf(t *testing.T) {
	if os.Getenv("ZZPERF") == "" {
		t.Skip()
	}
	e := newMountEnv(t)
	e.log = nil
	e.cacheDir, _ = os.MkdirTemp("/dev/shm", "zz")
	e.put("big.bin", randomBytes(3, 256<<20))
	e.srv.SetFaults(ossserver.Faults{FirstByteLatency: 15 * time.Millisecond, BytesPerSecond: 32 << 20})
	e.mountWith(func(c *mountConfig) {
		c.FetchMemory = envInt("ZZMEM", 64) << 20
		c.ReadAhead = envInt("ZZRA", 64) << 20
		c.MaxParallel = int(envInt("ZZCONNS", 16))
	})
	start := time.Now()
	f, _ := os.Open(e.path("big.bin"))
	n, _ := io.Copy(io.Discard, f)
	f.Close()
	d := time.Since(start)
	e.unmount()
	os.RemoveAll(e.cacheDir)
	t.Logf("read %d MiB in %v: %.0f MiB/s; server %+v", n>>20, d, float64(n)/d.Seconds()/(1<<20), e.stats())
}

func TestZZFetchAll(t *testing.T) {
	if os.Getenv("ZZPERF") == "" {
		t.Skip()
	}
	e := newMountEnv(t)
	e.log = nil
	e.cacheDir, _ = os.MkdirTemp("/dev/shm", "zz")
	e.put("big.bin", randomBytes(3, 256<<20))
	e.srv.SetFaults(ossserver.Faults{FirstByteLatency: 15 * time.Millisecond, BytesPerSecond: 32 << 20})
	e.mountDefault()
	info, _ := e.client.Stat(t.Context(), mountBucket, "big.bin")
	h, _ := e.cache.Open(t.Context(), info)
	start := time.Now()
	if err := h.FetchAll(t.Context(), int(envInt("ZZCONNS", 16)), nil); err != nil {
		t.Fatal(err)
	}
	d := time.Since(start)
	h.Close()
	e.unmount()
	os.RemoveAll(e.cacheDir)
	t.Logf("FetchAll 256 MiB in %v: %.0f MiB/s; server %+v", d, 256/d.Seconds(), e.stats())
}
