package cache

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ossmount/ossmount/internal/testutil"
	"github.com/ossmount/ossmount/object"
)

// faultySource is a memSource behind a network that flips one byte in a
// fraction of the bodies, and an OSS that reports the object's CRC64 with
// every GET (as x-oss-hash-crc64ecma does) and, if stat, answers HEADs.
type faultySource struct {
	*memSource
	mu       sync.Mutex
	rng      *rand.Rand
	flip     float64 // fraction of bodies with one byte flipped
	wrongCRC bool    // the reported CRC64 is wrong
	noHeader bool    // GETs report no CRC64
	stat     bool
	heads    int
}

func newFaultySource(bs int64, flip float64) *faultySource {
	return &faultySource{memSource: newMemSource(bs), rng: rand.New(rand.NewPCG(7, 9)), flip: flip}
}

func (s *faultySource) crcOf(ref object.Ref) uint64 {
	o := s.object(ref)
	crc := crcOf(o, o.info.Size)
	if s.wrongCRC {
		crc ^= 0x5A5A5A5A5A5A5A5A
	}
	return crc
}

func (s *faultySource) ReadRange(ctx context.Context, ref object.Ref, off, n int64, w io.WriterAt) error {
	if rc, ok := w.(interface{ ObjectCRC64(uint64) }); ok && !s.noHeader {
		rc.ObjectCRC64(s.crcOf(ref))
	}
	s.mu.Lock()
	at := int64(-1)
	if s.rng.Float64() < s.flip {
		at = off + s.rng.Int64N(n)
	}
	s.mu.Unlock()
	return s.memSource.ReadRange(ctx, ref, off, n, flipWriter{w: w, at: at})
}

// flipWriter flips the byte at object offset at on its way to w.
type flipWriter struct {
	w  io.WriterAt
	at int64
}

func (f flipWriter) WriteAt(p []byte, off int64) (int, error) {
	if f.at >= off && f.at < off+int64(len(p)) {
		q := append([]byte(nil), p...)
		q[f.at-off] ^= 0xFF
		p = q
	}
	return f.w.WriteAt(p, off)
}

// statSource is a faultySource that answers HEADs too.
type statSource struct{ *faultySource }

func (s statSource) Stat(_ context.Context, bucket, key string) (object.Info, error) {
	s.mu.Lock()
	s.heads++
	s.mu.Unlock()
	s.memSource.mu.Lock()
	defer s.memSource.mu.Unlock()
	for ref, o := range s.objects {
		if ref.Bucket == bucket && ref.Key == key {
			info := o.info
			info.CRC64, info.HasCRC64 = crcOf(o, info.Size), true
			return info, nil
		}
	}
	return object.Info{}, errors.New("no such object")
}

// listed is what a listing says of an object: no CRC64.
func listed(info object.Info) object.Info {
	info.CRC64, info.HasCRC64 = 0, false
	return info
}

// A version opened from a listing (no CRC64) and read whole through a
// network that flips bytes in half its bodies learns the CRC64 from the
// GETs, is found not to match, is counted and logged once, repaired in
// the background, and ends verified with the object's exact bytes.
func TestCompleteVersionIsCheckedAndRepaired(t *testing.T) {
	const bs = 64 << 10
	src := newFaultySource(bs, 0.5)
	info := src.put("b", "k", 40*bs+123, true)
	log, lb := testLogger(t)
	c := openTest(t, t.TempDir(), bs, src, func(o *Options) { o.Logger = log })
	h := openHandle(t, c, listed(info))
	p := make([]byte, info.Size)
	if _, err := h.ReadAt(context.Background(), p, 0); err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	testutil.Eventually(t, 20*time.Second, h.Verified, "the version verified")
	readCheck(t, h, src.object(info.Ref()), 0, info.Size)
	if n := c.Stats().CRCMismatches; n != 1 {
		t.Errorf("CRCMismatches = %d, want 1", n)
	}
	if n := strings.Count(lb.String(), "does not match its CRC64"); n != 1 {
		t.Errorf("the mismatch was logged %d times, want once:\n%s", n, lb.String())
	}
	if got := h.Info(); !got.HasCRC64 || got.CRC64 != crcOf(src.object(info.Ref()), info.Size) {
		t.Errorf("the version's CRC64 is %+v, want the object's", got)
	}
}

// Repair against 30% flipped bodies ends with the exact object, fetching
// far less than once more per pass.
func TestRepairKeepsBlocksThatAgree(t *testing.T) {
	const bs = 64 << 10
	src := newFaultySource(bs, 0.3)
	info := src.put("b", "k", 64*bs, true)
	c := openTest(t, t.TempDir(), bs, nil)
	c.src = src
	h := openHandle(t, c, info)
	o := FetchOptions{RunBytes: bs}
	if err := h.FetchAllWith(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	rep, err := h.Repair(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if !h.Verified() {
		t.Fatal("repaired but not verified")
	}
	readCheck(t, h, src.object(info.Ref()), 0, info.Size)
	if got := src.bytes.Load(); got > 4*info.Size {
		t.Errorf("fetched %d bytes for an object of %d (passes %d): more than 4x", got, info.Size, rep.Passes)
	}
	if rep.Passes < 2 || rep.Refetched >= int64(rep.Passes)*info.Size {
		t.Errorf("report %+v: every pass refetched everything", rep)
	}
}

// A CRC64 that no bytes match ends the repair once every block was
// fetched twice alike: ErrCorrupt after two fetches of the object.
func TestRepairGivesUpWhenOSSCRCIsWrong(t *testing.T) {
	const bs = 64 << 10
	src := newFaultySource(bs, 0)
	src.wrongCRC = true
	info := src.put("b", "k", 10*bs+5, false)
	c := openTest(t, t.TempDir(), bs, nil)
	c.src = src
	h := openHandle(t, c, info)
	if err := h.FetchAllWith(context.Background(), FetchOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err := h.Repair(context.Background(), FetchOptions{})
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Repair = %v, want ErrCorrupt", err)
	}
	if got := src.bytes.Load(); got != 2*info.Size {
		t.Errorf("fetched %d bytes, want %d: two passes", got, 2*info.Size)
	}
	if h.Complete() {
		t.Error("a version that disagrees with its CRC64 is complete")
	}
}

// Every body flipped: the repair ends after its bounded passes, dropping
// the blocks that never agreed.
func TestRepairIsBounded(t *testing.T) {
	const bs = 64 << 10
	src := newFaultySource(bs, 1)
	info := src.put("b", "k", 8*bs, true)
	c := openTest(t, t.TempDir(), bs, nil)
	c.src = src
	h := openHandle(t, c, info)
	o := FetchOptions{RunBytes: bs}
	if err := h.FetchAllWith(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	_, err := h.Repair(context.Background(), o)
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Repair = %v, want ErrCorrupt", err)
	}
	if got, most := src.bytes.Load(), int64(repairMaxPasses+1)*info.Size; got > most {
		t.Errorf("fetched %d bytes, more than %d passes allow", got, repairMaxPasses+1)
	}
	if len(h.Missing()) == 0 {
		t.Error("blocks that never agreed stay cached")
	}
}

// Without a CRC64 from the GETs, the completion asks OSS with one HEAD.
func TestCompletionAsksForTheCRC64(t *testing.T) {
	const bs = 64 << 10
	src := statSource{newFaultySource(bs, 0)}
	src.noHeader = true
	info := src.put("b", "k", 5*bs, true)
	c := openTest(t, t.TempDir(), bs, src)
	h := openHandle(t, c, listed(info))
	if err := h.FetchAllWith(context.Background(), FetchOptions{}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, h.Verified, "the version verified")
	if src.heads != 1 {
		t.Errorf("%d HEADs, want 1", src.heads)
	}
}

// An object without any CRC64 is complete but unverified, and the
// maintenance views say so.
func TestObjectWithoutCRC64IsUnverified(t *testing.T) {
	const bs = 64 << 10
	src := newFaultySource(bs, 0)
	src.noHeader = true
	info := src.put("b", "k", 3*bs, false)
	dir := t.TempDir()
	c := openTest(t, dir, bs, src)
	h := openHandle(t, c, info)
	if err := h.FetchAllWith(context.Background(), FetchOptions{}); err != nil {
		t.Fatal(err)
	}
	if !h.Complete() || h.Verified() {
		t.Fatalf("complete %v, verified %v; want complete and unverified", h.Complete(), h.Verified())
	}
	h.Close()
	rep, err := c.Verify(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Unverified) != 1 || rep.Unverified[0].Key != "k" {
		t.Errorf("Verify's unverified = %+v", rep.Unverified)
	}
	c.Close()
	v, err := OpenView(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	s, err := v.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if s.Unverified != 1 {
		t.Errorf("Stats.Unverified = %d, want 1", s.Unverified)
	}
}

// A Handle whose caller checks the version itself (materialize) keeps the
// cache from starting its own check when the version becomes complete: the
// mismatch is left to the caller, who repairs it with Repair.
func TestChecksItselfLeavesTheCheckToTheCaller(t *testing.T) {
	const bs = 64 << 10
	src := newFaultySource(bs, 1) // every body flipped
	info := src.put("b", "k", 8*bs, true)
	c := openTest(t, t.TempDir(), bs, src)
	h := openHandle(t, c, info)
	h.ChecksItself()
	if err := h.FetchAllWith(context.Background(), FetchOptions{}); err != nil {
		t.Fatal(err)
	}
	h.v.mu.Lock()
	checking := h.v.checking
	h.v.mu.Unlock()
	if checking || h.Verified() {
		t.Fatalf("the cache checked the version itself (checking %v, verified %v)", checking, h.Verified())
	}
	if err := h.VerifyComplete(context.Background()); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("VerifyComplete = %v, want ErrCorrupt: every body was flipped", err)
	}
	src.mu.Lock()
	src.flip = 0
	src.mu.Unlock()
	if _, err := h.Repair(context.Background(), FetchOptions{}); err != nil {
		t.Fatal(err)
	}
	if !h.Verified() {
		t.Fatal("not verified after the caller's repair")
	}
	readCheck(t, h, src.object(info.Ref()), 0, info.Size)
}
