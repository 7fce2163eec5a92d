package cache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/ossmount/ossmount/object"
)

// repairMaxPasses bounds Repair: the first look at the blocks present,
// then at most this many fetches of the blocks not yet agreed on. A block
// needs one clean fetch once the others are settled (solve), two alike at
// worst: against a network that corrupts half the bodies, a dozen fetches
// leave a block without a clean one once in 8000. A server whose CRC64 is
// wrong ends the repair after two passes whatever the bound.
const repairMaxPasses = 12

// repairJob is the one repair of a version running at a time; others
// wanting it wait for its outcome.
type repairJob struct {
	done chan struct{}
	rep  RepairReport
	err  error
}

// RepairReport is what a Repair did.
type RepairReport struct {
	Passes    int   // fetches of blocks not agreed on yet
	Refetched int64 // bytes of the blocks dropped to be fetched again
}

// Stater is implemented by a Source that can ask OSS for an object's
// metadata (*rangefetch.Client does): the cache sends one HEAD for the
// CRC64 of a version that became complete without one.
type Stater interface {
	Stat(ctx context.Context, bucket, key string) (object.Info, error)
}

// Repair makes the version present and agree with the object's CRC64.
// OSS gives no checksum for a range, so when the combined block CRCs
// disagree with the object's nobody knows which block is wrong: Repair
// fetches again every block not agreed on, keeps a block once two of its
// fetches gave the same CRC (two corruptions agreeing byte for byte are as
// unlikely as a CRC collision), fetches again only those that disagree,
// and stops as soon as the combination matches. It fails with ErrCorrupt,
// leaving the blocks not agreed on dropped, when every block is agreed on
// and the object still disagrees (OSS's CRC64 itself is wrong), or after
// repairMaxPasses. A version without a CRC64 is made complete, unchecked.
// One repair of a version runs at a time: a second caller waits for the
// first one's outcome. o tunes the fetches (Off, Len and Arrived are
// ignored).
func (h *Handle) Repair(ctx context.Context, o FetchOptions) (RepairReport, error) {
	return h.runRepair(ctx, o, nil)
}

// runRepair is Repair; release, if not nil, is called when the repair is
// over and before the callers waiting for it are let go: the background
// check lets go of its pin there, so that a waiter may detach the data
// file at once (Detach wants the only pin).
func (h *Handle) runRepair(ctx context.Context, o FetchOptions, release func()) (RepairReport, error) {
	if err := h.check(); err != nil {
		return RepairReport{}, err
	}
	v := h.v
	v.mu.Lock()
	if job := v.repair; job != nil {
		v.mu.Unlock()
		if release != nil {
			// The background check finds a repair running (materialize's):
			// that one settles the version. Let go of the pin at once, so
			// that its caller may detach the data file.
			release()
			return RepairReport{}, nil
		}
		select {
		case <-job.done:
		case <-ctx.Done():
			return RepairReport{}, ctx.Err()
		}
		if job.err != nil {
			return job.rep, job.err
		}
		return job.rep, h.VerifyComplete(ctx)
	}
	job := &repairJob{done: make(chan struct{})}
	v.repair = job
	v.mu.Unlock()

	rep, err := h.repair(ctx, o)

	v.mu.Lock()
	v.repair = nil
	v.mu.Unlock()
	job.rep, job.err = rep, err
	if release != nil {
		release()
	}
	close(job.done)
	return rep, err
}

// agreement is what the repairs of a version learned: the CRCs each block
// had, one per fetch, and the blocks two fetches agreed on, with the CRC
// they agreed on (a block fetched again since, after a drop, is judged
// anew). Guarded by the version's mu.
type agreement struct {
	seen   [][]uint64
	agreed bitset
	crcs   []uint64
}

func (a *agreement) isAgreed(b int64, crc uint64) bool { return a.agreed.has(b) && a.crcs[b] == crc }

// maxCombinations bounds the search of solve.
const maxCombinations = 1 << 12

// solve looks for the one choice among the CRCs each block of redo had
// that makes the object match its CRC64, the other blocks as they are.
// A random match is as likely as a CRC64 collision, so if there is one it
// names the right bytes of every block: those whose present bytes are
// them are agreed on, and each other is agreed on as soon as one fetch
// brings them, rather than two alike. It returns the blocks still to
// fetch. Called with v.mu held, redo in ascending order.
func (a *agreement) solve(v *version, redo []int64) []int64 {
	combos := 1
	for _, b := range redo {
		if combos *= len(a.seen[b]); combos > maxCombinations {
			return redo
		}
	}
	// Replacing block b's CRC cur by x changes the object's CRC64 by
	// the difference shifted past the bytes after the block (CRC64 is
	// linear): CRC64Combine(cur^x, 0, after).
	deltas := make([][]uint64, len(redo))
	for i, b := range redo {
		after := v.size - (b+1)*v.bs
		for _, x := range a.seen[b] {
			deltas[i] = append(deltas[i], object.CRC64Combine(v.crcs[b]^x, 0, after))
		}
	}
	want := combineCRCs(v.crcs, v.bs, v.size) ^ v.m.CRC64
	choice := make([]int, len(redo))
	var search func(i int, acc uint64) bool
	search = func(i int, acc uint64) bool {
		if i == len(redo) {
			return acc == want
		}
		for k, d := range deltas[i] {
			choice[i] = k
			if search(i+1, acc^d) {
				return true
			}
		}
		return false
	}
	if !search(0, 0) {
		return redo
	}
	var left []int64
	for i, b := range redo {
		right := a.seen[b][choice[i]]
		if right == v.crcs[b] {
			a.agreed.set(b)
			a.crcs[b] = right
			continue
		}
		a.seen[b] = []uint64{right}
		left = append(left, b)
	}
	return left
}

func (h *Handle) repair(ctx context.Context, o FetchOptions) (RepairReport, error) {
	var rep RepairReport
	c, v := h.c, h.v
	o.Off, o.Len, o.Arrived, o.Progress = 0, 0, false, nil
	v.mu.Lock()
	if v.agreement == nil {
		v.agreement = &agreement{seen: make([][]uint64, v.nblocks), agreed: newBitset(v.nblocks), crcs: make([]uint64, v.nblocks)}
	}
	a := v.agreement
	v.mu.Unlock()
	for pass := 0; ; pass++ {
		if err := h.FetchAllWith(ctx, o); err != nil {
			return rep, err
		}
		err := h.VerifyComplete(ctx)
		if errors.Is(err, ErrIncomplete) && pass < repairMaxPasses {
			// A reader dropped a block it found damaged on disk.
			continue
		}
		if !errors.Is(err, ErrCorrupt) {
			return rep, err
		}
		v.mu.Lock()
		var redo []int64
		for b := int64(0); b < v.nblocks; b++ {
			crc := v.crcs[b]
			if !v.present.has(b) || a.isAgreed(b, crc) {
				continue
			}
			a.agreed.clear(b)
			for _, s := range a.seen[b] {
				if s == crc {
					a.agreed.set(b)
					a.crcs[b] = crc
					break
				}
			}
			if !a.agreed.has(b) {
				a.seen[b] = append(a.seen[b], crc)
				redo = append(redo, b)
			}
		}
		if len(redo) > 0 && len(redo) < int(v.nblocks) {
			redo = a.solve(v, redo)
		}
		crcs := make([]uint64, len(redo))
		for i, b := range redo {
			crcs[i] = v.crcs[b]
		}
		v.mu.Unlock()
		switch {
		case len(redo) == 0:
			return rep, fmt.Errorf("%w: every block of oss://%s/%s was fetched twice alike and they still do not add up to its CRC64: OSS's CRC64 is wrong or it serves wrong bytes consistently",
				ErrCorrupt, v.ref.Bucket, v.ref.Key)
		case pass == repairMaxPasses:
			for i, b := range redo {
				c.dropIf(v, b, b, &crcs[i])
			}
			return rep, fmt.Errorf("%w: %d blocks of oss://%s/%s still disagree after %d fetches; OSS or the network corrupts it",
				ErrCorrupt, len(redo), v.ref.Bucket, v.ref.Key, pass+1)
		}
		for i, b := range redo {
			// Only the bytes that were compared: a reader may have
			// fetched the block again meanwhile.
			c.dropIf(v, b, b, &crcs[i])
			rep.Refetched += v.blockLen(b)
		}
		rep.Passes++
	}
}

// ObjectCRC64 takes the whole object's CRC64 from a GET's headers
// (rangefetch.CRC64Receiver), so that a version opened from a listing,
// which has none, is checked when it becomes complete all the same.
func (fl *flight) ObjectCRC64(crc uint64) { fl.c.learnObjectCRC(fl.v, crc) }

// learnObjectCRC records crc as v's CRC64 unless one is known; one that
// disagrees with it is logged once and the first one kept: the check
// against it then fails and says so, rather than passing against the
// other.
func (c *Cache) learnObjectCRC(v *version, crc uint64) {
	v.mu.Lock()
	known, had := v.m.CRC64, v.m.HasCRC64
	if !had {
		v.m.CRC64, v.m.HasCRC64 = crc, true
	}
	v.mu.Unlock()
	if had && known != crc {
		c.warnOnce("crc-headers "+v.ref.Bucket+"/"+v.ref.Key+" "+v.ref.ETag,
			"cache: OSS reports two CRC64s for one version; keeping the first",
			"object", "oss://"+v.ref.Bucket+"/"+v.ref.Key, "crc64", known, "other", crc)
	}
}

// checkInBackground checks a version whose blocks are all present against
// the object's CRC64 (asking OSS for it with one HEAD if none is known)
// and repairs it on a mismatch, in a goroutine the Cache owns and Close
// stops. One check of a version runs at a time. The caller keeps v loaded
// (a pin, or blocks of it in the committer's hands), and is the committer
// or holds flightGate shared with closing unset: Close waits for both
// before it waits for c.bg, so the goroutine is always waited for.
func (c *Cache) checkInBackground(v *version) {
	if c.src == nil {
		return
	}
	v.mu.Lock()
	if v.checking || v.selfCheckers > 0 {
		v.mu.Unlock()
		return
	}
	v.checking = true
	checked := make(chan struct{})
	v.checked = checked
	v.mu.Unlock()
	// The goroutine holds a pin so that the version stays loaded.
	c.mu.Lock()
	v.pins++
	c.mu.Unlock()
	c.bg.Add(1)
	h := &Handle{c: c, v: v}
	go func() {
		defer c.bg.Done()
		defer h.Close() // if the repair did not let go of it already
		c.checkComplete(h)
		h.Close()
		v.mu.Lock()
		v.checking = false
		v.mu.Unlock()
		close(checked)
	}()
}

// checkComplete is checkInBackground's work.
func (c *Cache) checkComplete(h *Handle) {
	v := h.v
	v.mu.Lock()
	has, ref := v.m.HasCRC64, v.ref
	v.mu.Unlock()
	if st, ok := c.src.(Stater); ok && !has {
		info, err := st.Stat(c.ctx, ref.Bucket, ref.Key)
		if err != nil {
			// It stays incomplete; the next open checks again.
			c.log.Debug("cache: cannot ask OSS for the CRC64 of a cached object", "object", "oss://"+ref.Bucket+"/"+ref.Key, "err", err)
			return
		}
		if info.ETag != ref.ETag {
			return // replaced: this version is on its way out
		}
		c.learnCRC(v, info)
	}
	rep, err := h.runRepair(c.ctx, FetchOptions{}, func() { h.Close() })
	switch {
	case err == nil && rep.Passes > 0:
		c.log.Info("cache: cached object repaired; it matches its CRC64 now",
			"object", "oss://"+ref.Bucket+"/"+ref.Key, slog.Int("passes", rep.Passes), slog.Int64("refetched_bytes", rep.Refetched))
	case err != nil && !isCanceled(err) && !errors.Is(err, ErrClosed):
		c.log.Warn("cache: cannot repair a cached object; its blocks are fetched again when read",
			"object", "oss://"+ref.Bucket+"/"+ref.Key, "err", err)
	}
}

// checkIfAllPresent starts the check of a version just loaded whose blocks
// are all present but which is not complete: an earlier check did not end
// (the process stopped, or the repair gave up).
func (c *Cache) checkIfAllPresent(v *version) {
	v.mu.Lock()
	due := !v.m.Complete && v.nblocks > 0 && v.npresent == v.nblocks && !v.uncached
	v.mu.Unlock()
	if !due {
		return
	}
	c.flightGate.RLock()
	defer c.flightGate.RUnlock()
	if !c.closing {
		c.checkInBackground(v)
	}
}
