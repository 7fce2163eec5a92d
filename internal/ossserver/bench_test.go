package ossserver_test

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ossmount/ossmount/internal/ossserver"
)

// benchParallelGETs downloads the object with `streams` parallel GETs per
// iteration and reports the mean per-stream rate and the process CPU time
// per GiB served (client and server, as both run here).
func benchParallelGETs(b *testing.B, storage ossserver.Storage, size int64, streams int, faults ossserver.Faults) {
	r, err := ossserver.Listen("127.0.0.1:0", ossserver.Config{Storage: storage, Anonymous: true, Faults: faults})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: streams, DisableCompression: true}}
	url := r.Endpoint + "/bkt/obj"
	if resp, err := client.Head(url); err == nil { // computes the CRC outside the timing
		resp.Body.Close()
	}
	cpu0 := cpuTime()
	var rateSum float64
	b.ResetTimer()
	for range b.N {
		var wg sync.WaitGroup
		var mu sync.Mutex
		for range streams {
			wg.Go(func() {
				start := time.Now()
				resp, err := client.Get(url)
				if err != nil {
					b.Error(err)
					return
				}
				n, err := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err != nil || n != size {
					b.Errorf("read %d bytes: %v", n, err)
				}
				mu.Lock()
				rateSum += float64(n) / time.Since(start).Seconds() / (1 << 20)
				mu.Unlock()
			})
		}
		wg.Wait()
	}
	b.StopTimer()
	total := float64(b.N) * float64(streams) * float64(size)
	b.ReportMetric(rateSum/float64(b.N*streams), "MiB/s/stream")
	b.ReportMetric((cpuTime()-cpu0).Seconds()/(total/(1<<30)), "cpu-s/GiB")
	b.SetBytes(int64(streams) * size)
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkPaced16x32MiB: 16 parallel responses paced at 32 MiB/s each
// should each see close to 32 MiB/s.
func BenchmarkPaced16x32MiB(b *testing.B) {
	mem := ossserver.NewMemStorage()
	const size = 64 << 20
	mem.Put("bkt", "obj", make([]byte, size))
	benchParallelGETs(b, mem, size, 16, ossserver.Faults{BytesPerSecond: 32 << 20})
}

// BenchmarkUnshapedDir16: 16 parallel unshaped GETs of a file.
func BenchmarkUnshapedDir16(b *testing.B) {
	root := b.TempDir()
	const size = 64 << 20
	os.MkdirAll(filepath.Join(root, "bkt"), 0o755)
	if err := os.WriteFile(filepath.Join(root, "bkt", "obj"), make([]byte, size), 0o644); err != nil {
		b.Fatal(err)
	}
	benchParallelGETs(b, ossserver.NewDirStorage(root), size, 16, ossserver.Faults{})
}
