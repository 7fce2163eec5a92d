package materialize

import (
	"fmt"
	"os"
	"sync"

	"github.com/ossmount/ossmount/cache"
)

// handleData installs from a complete cache entry.
type handleData struct {
	h       *cache.Handle
	key     versionKey
	outside bool // the data file is beside DEST, not in the cache
}

func (d handleData) open() (*os.File, error) { return d.h.DataFile() }

func (d handleData) beside() bool { return d.outside }

// detach moves the cache's file away only when no other run of this
// process wants the same version: one that is still to install would find
// the file gone. The cache itself refuses while other handles (the
// mount's readers) use the version.
func (d handleData) detach(path string) error {
	if interest.count(d.key) > 1 {
		return fmt.Errorf("another run installs the same version")
	}
	return d.h.Detach(path)
}

// interest counts the runs of this process that hold a version open.
var interest = &interestCount{n: make(map[versionKey]int)}

type interestCount struct {
	mu sync.Mutex
	n  map[versionKey]int
}

func (ic *interestCount) add(k versionKey) (release func()) {
	ic.mu.Lock()
	ic.n[k]++
	ic.mu.Unlock()
	return func() {
		ic.mu.Lock()
		if ic.n[k]--; ic.n[k] == 0 {
			delete(ic.n, k)
		}
		ic.mu.Unlock()
	}
}

func (ic *interestCount) count(k versionKey) int {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	return ic.n[k]
}
