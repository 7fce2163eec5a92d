package cache

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/ossmount/ossmount/internal/ossserver/ossservertest"
	"github.com/ossmount/ossmount/object"
	"github.com/ossmount/ossmount/rangefetch"
)

// The crash test: a child process (this test binary, running
// TestCrashHelper) fills a cache from the local OSS server through
// rangefetch and is killed with SIGKILL at random moments. After every
// kill the cache must hold only right bytes in the blocks it calls present,
// serve them without a single GET, and in the end fetch exactly the missing
// bytes, once.

const (
	crashHelperEnv = "OSSMOUNT_CACHE_CRASH_HELPER"
	crashBucket    = "crash"
	crashBS        = 64 << 10
	crashRounds    = 24
)

var crashKeys = []string{"a.bin", "dir/b.bin", "c.bin"}

func crashClient(t testing.TB, endpoint, id, secret string) *rangefetch.Client {
	c, err := rangefetch.New(rangefetch.Config{
		Endpoint:    endpoint,
		Region:      "cn-hangzhou",
		Credentials: rangefetch.Credentials{AccessKeyID: id, AccessKeySecret: secret},
		MaxConns:    16,
		Retry:       rangefetch.RetryPolicy{MaxAttempts: 3, BaseDelay: 10 * time.Millisecond, MaxElapsed: 10 * time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestCrashHelper is the child of TestCrashSafety; it does nothing in a
// normal test run. It fetches random ranges with several workers and prints
// a line after each, until it is killed.
func TestCrashHelper(t *testing.T) {
	if os.Getenv(crashHelperEnv) == "" {
		t.Skip("helper process of TestCrashSafety")
	}
	ctx := context.Background()
	client := crashClient(t, os.Getenv("CRASH_ENDPOINT"), os.Getenv("CRASH_KEY_ID"), os.Getenv("CRASH_KEY_SECRET"))
	c, err := Open(Options{Dir: os.Getenv("CRASH_DIR"), BlockSize: crashBS, MinFreeRatio: -1}, client)
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(1)
	}
	var handles []*Handle
	for _, k := range crashKeys {
		info, err := client.Stat(ctx, crashBucket, k)
		if err != nil {
			fmt.Println("stat:", err)
			os.Exit(1)
		}
		h, err := c.Open(ctx, info)
		if err != nil {
			fmt.Println("open handle:", err)
			os.Exit(1)
		}
		handles = append(handles, h)
	}
	var out sync.Mutex
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(w)))
			buf := make([]byte, 3*crashBS)
			for {
				h := handles[rng.IntN(len(handles))]
				size := h.Info().Size
				off := rng.Int64N(size)
				n := rng.Int64N(3*crashBS) + 1
				if rng.IntN(2) == 0 {
					err = h.Fetch(ctx, off, n)
				} else {
					_, err = h.ReadAt(ctx, buf[:min(n, size-off)], off)
				}
				if err != nil {
					fmt.Println("fetch:", err)
					os.Exit(1)
				}
				out.Lock()
				fmt.Println("ok")
				out.Unlock()
			}
		}()
	}
	wg.Wait()
}

func TestCrashSafety(t *testing.T) {
	if os.Getenv(crashHelperEnv) != "" {
		t.Skip("in the helper")
	}
	if testing.Short() {
		t.Skip("crash test in -short mode")
	}
	srv, mem, creds := ossservertest.Start(t)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	objects := map[string][]byte{}
	for i, k := range crashKeys {
		data := make([]byte, (4+2*i)<<20+rng.IntN(crashBS)) // short last blocks
		for j := range data {
			data[j] = byte(rng.Uint32())
		}
		mem.Put(crashBucket, k, data)
		objects[k] = data
	}
	dir := t.TempDir()
	client := crashClient(t, srv.Endpoint, creds.AccessKeyID, creds.AccessKeySecret)
	ctx := context.Background()
	infos := map[string]object.Info{}
	for _, k := range crashKeys {
		info, err := client.Stat(ctx, crashBucket, k)
		if err != nil {
			t.Fatal(err)
		}
		infos[k] = info
	}

	// checkCache opens the cache, reads every present block, compares it
	// with the source, and returns the missing bytes. Not one GET may be
	// needed.
	checkCache := func(round int) (missing int64, runs int64) {
		t.Helper()
		c, err := Open(Options{Dir: dir, BlockSize: crashBS, MinFreeRatio: -1}, client)
		if err != nil {
			t.Fatalf("round %d: reopen: %v", round, err)
		}
		defer c.Close()
		for _, k := range crashKeys {
			h, err := c.Open(ctx, infos[k])
			if err != nil {
				t.Fatal(err)
			}
			data := objects[k]
			gaps := h.Missing()
			isMissing := func(off int64) bool {
				for _, r := range gaps {
					if off >= r.Off && off < r.End() {
						return true
					}
				}
				return false
			}
			p := make([]byte, crashBS)
			for off := int64(0); off < int64(len(data)); off += crashBS {
				if isMissing(off) {
					continue
				}
				n := min(crashBS, int64(len(data))-off)
				if got, err := h.ReadAt(ctx, p[:n], off); int64(got) != n || err != nil {
					t.Fatalf("round %d: %s block %d: read %d, %v", round, k, off/crashBS, got, err)
				}
				if !bytes.Equal(p[:n], data[off:off+n]) {
					t.Fatalf("round %d: %s block %d: present block holds wrong bytes", round, k, off/crashBS)
				}
			}
			for _, r := range gaps {
				missing += r.Len
				runs += (r.Len + c.maxRun*crashBS - 1) / (c.maxRun * crashBS)
			}
			h.Close()
		}
		// Counted by this cache, not by the server: a GET the killed
		// helper sent just before it died may reach the server now.
		if st := c.Stats(); st.FetchedBytes != 0 || st.MissBytes != 0 {
			t.Fatalf("round %d: reading present blocks fetched %d bytes", round, st.FetchedBytes)
		}
		return missing, runs
	}

	kills := 0
	for round := range crashRounds {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$", "-test.count=1")
		cmd.Env = append(os.Environ(),
			crashHelperEnv+"=1",
			"CRASH_DIR="+dir,
			"CRASH_ENDPOINT="+srv.Endpoint,
			"CRASH_KEY_ID="+creds.AccessKeyID,
			"CRASH_KEY_SECRET="+creds.AccessKeySecret,
		)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill after a random amount of progress: sometimes at once (while
		// badger opens), mostly in the middle of writes and commits.
		want := rng.IntN(40)
		if round%6 == 0 {
			want = 0
		}
		sc := bufio.NewScanner(stdout)
		lines := 0
		var last string
		for lines < want && sc.Scan() {
			last = sc.Text()
			if last != "ok" {
				break
			}
			lines++
		}
		ended := lines < want // the helper stopped printing before the kill
		cmd.Process.Kill()    // SIGKILL
		go func() {
			for sc.Scan() {
			}
		}()
		cmd.Wait()
		if last != "" && last != "ok" {
			t.Fatalf("round %d: helper failed: %s\n%s", round, last, stderr.String())
		}
		if ended {
			t.Fatalf("round %d: helper ended early:\n%s", round, stderr.String())
		}
		kills++
		checkCache(round)
	}
	if kills < 20 {
		t.Fatalf("only %d kills", kills)
	}

	// Fill every gap: each missing byte is fetched exactly once, nothing
	// present is fetched again.
	missing, runs := checkCache(-1)
	t.Logf("after %d kills: %d bytes missing in %d runs", kills, missing, runs)
	before := srv.Stats()
	c, err := Open(Options{Dir: dir, BlockSize: crashBS, MinFreeRatio: -1}, client)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range crashKeys {
		h, err := c.Open(ctx, infos[k])
		if err != nil {
			t.Fatal(err)
		}
		if err := h.FetchAllWith(ctx, FetchOptions{Workers: 4}); err != nil {
			t.Fatal(err)
		}
		if err := h.VerifyComplete(ctx); err != nil {
			t.Fatal(err)
		}
		h.Close()
	}
	c.Close()
	after := srv.Stats()
	if got := after.BodyBytes - before.BodyBytes; got != missing {
		t.Fatalf("filling the gaps fetched %d bytes, %d were missing", got, missing)
	}
	if got := after.Gets - before.Gets; got != runs {
		t.Fatalf("filling the gaps took %d GETs, want %d", got, runs)
	}
	if m, _ := checkCache(-2); m != 0 {
		t.Fatalf("%d bytes still missing", m)
	}
}
