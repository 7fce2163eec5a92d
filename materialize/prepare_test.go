package materialize

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/ossmount/ossmount/cache"
	"github.com/ossmount/ossmount/object"
)

// fakeVersion stands in for a cache handle: blocks of 1 MiB, Fetch makes
// them present, VerifyComplete answers from a script.
type fakeVersion struct {
	mu      sync.Mutex
	size    int64
	present map[int64]bool
	fetched int64
	repairs int
	verify  []error // answers of successive VerifyComplete calls
	repair  error   // Repair's answer
	opts    []cache.FetchOptions
}

const fakeBlock = 1 << 20

func newFakeVersion(size int64, verify ...error) *fakeVersion {
	return &fakeVersion{size: size, present: map[int64]bool{}, verify: verify}
}

func (f *fakeVersion) FetchAllWith(_ context.Context, o cache.FetchOptions) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.opts = append(f.opts, o)
	for b := int64(0); b*fakeBlock < f.size; b++ {
		if !f.present[b] {
			f.present[b] = true
			f.fetched += min(fakeBlock, f.size-b*fakeBlock)
		}
	}
	return nil
}

func (f *fakeVersion) Missing() []object.Range {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []object.Range
	for b := int64(0); b*fakeBlock < f.size; b++ {
		if f.present[b] {
			continue
		}
		r := object.Range{Off: b * fakeBlock, Len: min(fakeBlock, f.size-b*fakeBlock)}
		if k := len(out) - 1; k >= 0 && out[k].End() == r.Off {
			out[k].Len += r.Len
		} else {
			out = append(out, r)
		}
	}
	return out
}

func (f *fakeVersion) VerifyComplete(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.verify) == 0 {
		return nil
	}
	err := f.verify[0]
	f.verify = f.verify[1:]
	if errors.Is(err, cache.ErrIncomplete) {
		delete(f.present, 1) // a reader dropped block 1 meanwhile
	}
	return err
}

func (f *fakeVersion) Settle() {}

// Repair stands in for repair by agreement: it fetches one block again.
func (f *fakeVersion) Repair(context.Context, cache.FetchOptions) (cache.RepairReport, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.repairs++
	return cache.RepairReport{Passes: 1, Refetched: fakeBlock}, f.repair
}

func testPrepare(t *testing.T, f *fakeVersion) (preparation, error) {
	t.Helper()
	req, err := Request{Bucket: "b-1", Key: "k", Dest: "/d", PartSize: 2 * fakeBlock, MultigetThreshold: 1}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	info := object.Info{Bucket: "b-1", Key: "k", Size: f.size, ETag: `"E"`, CRC64: 1, HasCRC64: true}
	return prepare(context.Background(), f, info, req, func(int64, int64) {})
}

var errCorrupt = fmt.Errorf("%w: test", cache.ErrCorrupt)

func TestPrepareFetchesOnlyWhatIsMissing(t *testing.T) {
	f := newFakeVersion(10*fakeBlock + 7)
	f.present[0], f.present[5] = true, true
	p, err := testPrepare(t, f)
	if err != nil {
		t.Fatal(err)
	}
	if p.reused != 2*fakeBlock || p.fetched != 8*fakeBlock+7 || !p.verified || p.refetched {
		t.Fatalf("%+v", p)
	}
	if len(f.opts) != 1 || f.opts[0].Workers != DefaultThreads || f.opts[0].RunBytes != 2*fakeBlock {
		t.Fatalf("fetched with %+v, want %d workers of 2 MiB runs", f.opts, DefaultThreads)
	}
}

func TestPrepareRepairsAfterCRCMismatch(t *testing.T) {
	f := newFakeVersion(4*fakeBlock, errCorrupt)
	f.present[1] = true // cached earlier: it may be the bad block
	p, err := testPrepare(t, f)
	if err != nil {
		t.Fatal(err)
	}
	if !p.refetched || f.repairs != 1 || p.fetched != 3*fakeBlock+fakeBlock {
		t.Fatalf("refetched=%v repairs=%d fetched=%d; want one repair, its bytes counted", p.refetched, f.repairs, p.fetched)
	}
}

func TestPrepareGivesUpWhenRepairCannotMatch(t *testing.T) {
	f := newFakeVersion(4*fakeBlock, errCorrupt)
	f.repair = errCorrupt
	_, err := testPrepare(t, f)
	if !errors.Is(err, ErrIntegrity) {
		t.Fatalf("err = %v, want ErrIntegrity", err)
	}
	if f.repairs != 1 {
		t.Fatalf("repairs=%d, want 1", f.repairs)
	}
}

func TestPrepareFetchesAgainWhenABlockVanished(t *testing.T) {
	f := newFakeVersion(3*fakeBlock, fmt.Errorf("%w: 1 block", cache.ErrIncomplete), nil)
	p, err := testPrepare(t, f)
	if err != nil {
		t.Fatal(err)
	}
	// Only the vanished block is fetched again, and nothing is dropped.
	if len(f.opts) != 2 || f.repairs != 0 || p.refetched || len(f.Missing()) != 0 || f.fetched != 4*fakeBlock {
		t.Fatalf("fetches=%d repairs=%d refetched=%v missing=%v fetched=%d",
			len(f.opts), f.repairs, p.refetched, f.Missing(), f.fetched)
	}
}

// Blocks that keep vanishing are left to Repair, which fetches them
// again itself; if it fails too, the error stands.
func TestPrepareGivesUpWhenBlocksKeepVanishing(t *testing.T) {
	incomplete := fmt.Errorf("%w: 1 block", cache.ErrIncomplete)
	f := newFakeVersion(3*fakeBlock, incomplete, incomplete, incomplete, nil)
	f.repair = incomplete
	if _, err := testPrepare(t, f); !errors.Is(err, cache.ErrIncomplete) {
		t.Fatalf("err = %v, want ErrIncomplete after three tries and the repair", err)
	}
	if len(f.opts) != 3 || f.repairs != 1 {
		t.Fatalf("%d fetches and %d repairs, want 3 and 1", len(f.opts), f.repairs)
	}
}
