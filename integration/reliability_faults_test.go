package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/ossmount/ossmount/internal/ossserver"
	"github.com/ossmount/ossmount/internal/testutil"
)

// The fault rows of TestReliabilityFigures: each runs mounts or
// materialize under one fault and counts what went wrong.

// mountRow reads the object through a fresh mount under faults f, then
// through a remount of the same cache with the server healthy again: what
// the cache kept must be right too.
func (e *relEnv) mountRow(name string, f ossserver.Faults, runs int) relRow {
	row := relRow{name: name, runs: runs}
	for range runs {
		cacheDir := e.fresh("cache")
		e.srv.ResetStats()
		e.srv.SetFaults(f)
		m := e.mount(cacheDir)
		if m.mountErr != "" {
			row.failed++
			row.note("%s", m.mountErr)
			e.srv.SetFaults(ossserver.Faults{})
			continue
		}
		got, err, hung := m.read("object.bin")
		if w := wrongBytes(got, e.data); w > 0 {
			row.wrong += w
			row.note("the read under faults returned wrong bytes")
		}
		if hung {
			row.hung++
		} else if err != nil {
			row.failed++
			row.note("read under faults: %v", errors.Unwrap(err))
		}
		e.srv.SetFaults(ossserver.Faults{})
		if h, msg := m.unmount(relMountWait); h {
			row.hung++
		} else if msg != "" {
			row.note("%s", msg)
		}
		m = e.mount(cacheDir)
		if m.mountErr != "" {
			row.failed++
			row.note("remount: %s", m.mountErr)
			continue
		}
		got, err, hung = m.read("object.bin")
		if w := wrongBytes(got, e.data); w > 0 {
			row.wrong += w
			row.note("the remount returned wrong bytes")
		}
		if hung {
			row.hung++
		} else if err != nil {
			row.failed++
			row.note("read after remount: %v", errors.Unwrap(err))
		}
		if h, _ := m.unmount(relMountWait); h {
			row.hung++
		}
		row.refetched += e.srv.Stats().BodyBytes - relObjectSize
	}
	return row
}

// materializeRow materializes the object into a fresh cache and DEST
// under faults f.
func (e *relEnv) materializeRow(name string, f ossserver.Faults, runs int) relRow {
	row := relRow{name: name, runs: runs}
	for range runs {
		cacheDir, dest := e.fresh("cache"), filepath.Join(e.fresh("out"), "object.bin")
		e.srv.ResetStats()
		e.srv.SetFaults(f)
		code, out, hung := e.ossmount(relReadWait, nil, "materialize", "--cache-dir", cacheDir, "oss://"+relBucket+"/object.bin", dest)
		e.srv.SetFaults(ossserver.Faults{})
		row.refetched += e.srv.Stats().BodyBytes - relObjectSize
		e.countInstalled(&row, dest, code, out, hung)
	}
	return row
}

// countInstalled checks what a materialize run left at dest: nothing, or
// exactly the object.
func (e *relEnv) countInstalled(row *relRow, dest string, code int, out string, hung bool) {
	if hung {
		row.hung++
	} else if code != 0 {
		row.failed++
		row.note("exit %d: %s", code, firstLine(out))
	}
	got, err := os.ReadFile(dest)
	if err == nil {
		if w := wrongBytes(got, e.data) + int64(max(0, len(e.data)-len(got))); w > 0 {
			row.wrong += w
			row.note("DEST installed with wrong bytes (exit %d)", code)
		}
	} else if code == 0 && !hung {
		row.note("exit 0 without DEST")
		row.wrong += int64(len(e.data))
	}
}

// replacedRow replaces the object while a slow read of it runs: the
// reader must get the old version whole, or the new one whole, or an
// error after a prefix of one of them.
func (e *relEnv) replacedRow(runs int, viaMaterialize bool) relRow {
	name := "mount: object replaced mid-read (1 MiB/s per body)"
	if viaMaterialize {
		name = "materialize: object replaced mid-run (1 MiB/s per body)"
	}
	row := relRow{name: name, runs: runs}
	var oldWhole, newWhole, partial int
	defer func() {
		row.note("the old version whole %d times, the new one %d, neither (an error or nothing) %d", oldWhole, newWhole, partial)
	}()
	for i := range runs {
		key := fmt.Sprintf("replaced-%t-%d.bin", viaMaterialize, i)
		old := testutil.RandomBytes(uint64(1000+2*i), relObjectSize)
		repl := testutil.RandomBytes(uint64(1001+2*i), relObjectSize)
		e.mem.Put(relBucket, key, old)
		e.srv.ResetStats()
		e.srv.SetFaults(ossserver.Faults{BytesPerSecond: 1 << 20})
		replaceOnceFetching := func() {
			deadline := time.Now().Add(relReadWait)
			for e.srv.Stats().BodyBytes == 0 && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			e.mem.Put(relBucket, key, repl)
		}
		judge := func(got []byte) int64 {
			switch {
			case bytes.Equal(got, old):
				oldWhole++
			case bytes.Equal(got, repl):
				newWhole++
			default:
				partial++
			}
			return min(wrongBytes(got, old), wrongBytes(got, repl))
		}
		cacheDir := e.fresh("cache")
		if viaMaterialize {
			dest := filepath.Join(e.fresh("out"), key)
			done := make(chan struct{})
			go func() { replaceOnceFetching(); close(done) }()
			code, out, hung := e.ossmount(relReadWait, nil, "materialize", "--cache-dir", cacheDir, "oss://"+relBucket+"/"+key, dest)
			<-done
			if hung {
				row.hung++
			} else if code != 0 {
				row.failed++
				row.note("exit %d", code)
			}
			_ = out
			got, err := os.ReadFile(dest)
			if w := judge(got); err == nil && (w > 0 || len(got) != relObjectSize) {
				row.wrong += max(w, 1)
				row.note("DEST holds neither version")
			}
		} else {
			m := e.mount(cacheDir)
			if m.mountErr != "" {
				row.failed++
				row.note("%s", m.mountErr)
				continue
			}
			done := make(chan struct{})
			go func() { replaceOnceFetching(); close(done) }()
			got, err, hung := m.read(key)
			<-done
			row.wrong += judge(got)
			if hung {
				row.hung++
			} else if err != nil {
				row.failed++
				row.note("read: %v", errors.Unwrap(err))
			}
			if h, _ := m.unmount(relMountWait); h {
				row.hung++
			}
		}
		e.srv.SetFaults(ossserver.Faults{})
		row.refetched += e.srv.Stats().BodyBytes - relObjectSize
	}
	return row
}

// tmpfs mounts a tmpfs of size bytes (read-only if ro) at a fresh
// directory.
func (e *relEnv) tmpfs(size int64, ro bool) string {
	d := e.fresh("tmpfs")
	flags := uintptr(syscall.MS_NOSUID | syscall.MS_NODEV)
	if ro {
		flags |= syscall.MS_RDONLY
	}
	if err := syscall.Mount("tmpfs", d, "tmpfs", flags, "size="+strconv.FormatInt(size, 10)+",mode=0700"); err != nil {
		e.t.Fatalf("mount a tmpfs at %s: %v", d, err)
	}
	e.t.Cleanup(func() { syscall.Unmount(d, syscall.MNT_DETACH) })
	return d
}

// enospcRow puts the cache on a tmpfs smaller than the object.
func (e *relEnv) enospcRow(runs int, viaMaterialize bool) relRow {
	name := "mount: cache on a 2 MiB tmpfs (ENOSPC), 4 MiB object"
	if viaMaterialize {
		name = "materialize: cache on a 2 MiB tmpfs (ENOSPC), 4 MiB object"
	}
	row := relRow{name: name, runs: runs}
	for range runs {
		cacheDir := e.tmpfs(2<<20, false)
		e.srv.ResetStats()
		if viaMaterialize {
			dest := filepath.Join(e.fresh("out"), "object.bin")
			code, out, hung := e.ossmount(relReadWait, nil, "materialize", "--cache-dir", cacheDir, "oss://"+relBucket+"/object.bin", dest)
			row.refetched += e.srv.Stats().BodyBytes - relObjectSize
			e.countInstalled(&row, dest, code, out, hung)
			continue
		}
		m := e.mount(cacheDir)
		if m.mountErr != "" {
			row.failed++
			row.note("%s", m.mountErr)
			continue
		}
		got, err, hung := m.read("object.bin")
		row.wrong += wrongBytes(got, e.data)
		if hung {
			row.hung++
		} else if err != nil {
			row.failed++
			row.note("read: %v", errors.Unwrap(err))
		}
		if h, msg := m.unmount(relMountWait); h {
			row.hung++
		} else if msg != "" {
			row.note("%s", msg)
		}
		row.refetched += e.srv.Stats().BodyBytes - relObjectSize
	}
	return row
}

// vanishedRow removes the cache directory of a running mount, reads an
// object not yet cached, and unmounts within relCloseWait.
func (e *relEnv) vanishedRow(runs int) relRow {
	row := relRow{name: fmt.Sprintf("mount: cache directory removed while mounted (unmount deadline %s)", relCloseWait), runs: runs}
	for i := range runs {
		key := fmt.Sprintf("after-vanish-%d.bin", i)
		e.mem.Put(relBucket, key, e.data)
		cacheDir := e.fresh("cache")
		e.srv.ResetStats()
		m := e.mount(cacheDir)
		if m.mountErr != "" {
			row.failed++
			row.note("%s", m.mountErr)
			continue
		}
		got, _, _ := m.read("object.bin")
		row.wrong += wrongBytes(got, e.data)
		if err := os.RemoveAll(cacheDir); err != nil {
			e.t.Fatal(err)
		}
		got, err, hung := m.read(key)
		row.wrong += wrongBytes(got, e.data)
		if hung {
			row.hung++
		} else if err != nil {
			row.failed++
			row.note("read after removal: %v", errors.Unwrap(err))
		}
		if h, msg := m.unmount(relCloseWait); h {
			row.hung++
			row.note("unmount did not end within %s; killed", relCloseWait)
		} else if msg != "" {
			row.note("%s", msg)
		}
		row.refetched += e.srv.Stats().BodyBytes - 2*relObjectSize
	}
	return row
}

// moment returns a random moment within the first d.
func (e *relEnv) moment(d time.Duration) time.Duration {
	return time.Duration(e.rng.Int64N(int64(d)))
}

// killMountRow kills the mount with SIGKILL at a random moment of a read
// (8 MiB/s per body), then remounts the same cache and reads the object
// whole: it must be exact, and only what was not recorded is fetched again.
func (e *relEnv) killMountRow(rounds int) relRow {
	row := relRow{name: "mount: kill -9 at a random moment of a read, then remount and read", runs: rounds}
	for range rounds {
		cacheDir := e.fresh("cache")
		e.srv.ResetStats()
		e.srv.SetFaults(ossserver.Faults{BytesPerSecond: 8 << 20})
		m := e.mount(cacheDir)
		if m.mountErr != "" {
			row.failed++
			row.note("%s", m.mountErr)
			e.srv.SetFaults(ossserver.Faults{})
			continue
		}
		done := make(chan struct{})
		go func() { m.read("object.bin"); close(done) }()
		time.Sleep(e.moment(700 * time.Millisecond)) // the random moment itself, not a synchronisation
		m.kill()
		<-done
		e.srv.SetFaults(ossserver.Faults{})
		m = e.mount(cacheDir)
		if m.mountErr != "" {
			row.failed++
			row.note("remount: %s", m.mountErr)
			continue
		}
		got, err, hung := m.read("object.bin")
		row.wrong += wrongBytes(got, e.data) + int64(max(0, len(e.data)-len(got)))
		if hung {
			row.hung++
		} else if err != nil {
			row.failed++
			row.note("read after remount: %v", errors.Unwrap(err))
		}
		if h, _ := m.unmount(relMountWait); h {
			row.hung++
		}
		row.refetched += e.srv.Stats().BodyBytes - relObjectSize
	}
	return row
}

// killMaterializeRow kills materialize with SIGKILL at a random moment
// (8 MiB/s per body): DEST must then be absent, and a second run must
// install the exact object.
func (e *relEnv) killMaterializeRow(rounds int) relRow {
	row := relRow{name: "materialize: kill -9 at a random moment, then run again", runs: rounds}
	for range rounds {
		cacheDir, dest := e.fresh("cache"), filepath.Join(e.fresh("out"), "object.bin")
		args := []string{"materialize", "--cache-dir", cacheDir, "oss://" + relBucket + "/object.bin", dest}
		e.srv.ResetStats()
		e.srv.SetFaults(ossserver.Faults{BytesPerSecond: 8 << 20})
		ctx, cancel := context.WithTimeout(context.Background(), relReadWait)
		cmd := e.cmd(ctx, nil, args...)
		if err := cmd.Start(); err != nil {
			e.t.Fatal(err)
		}
		time.Sleep(e.moment(700 * time.Millisecond)) // the random moment itself
		cmd.Process.Kill()
		cmd.Wait()
		cancel()
		if got, err := os.ReadFile(dest); err == nil && !bytes.Equal(got, e.data) {
			row.wrong += max(wrongBytes(got, e.data), 1)
			row.note("a killed run left a wrong DEST")
		}
		e.srv.SetFaults(ossserver.Faults{})
		code, out, hung := e.ossmount(relReadWait, nil, args...)
		row.refetched += e.srv.Stats().BodyBytes - relObjectSize
		e.countInstalled(&row, dest, code, out, hung)
	}
	return row
}
