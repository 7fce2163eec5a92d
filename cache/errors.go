package cache

import (
	"errors"
	"fmt"
)

var (
	// ErrCorrupt means cached bytes do not match their checksum: the
	// combined block CRC64s differ from the object's CRC64 (VerifyComplete).
	ErrCorrupt = errors.New("cached data does not match its checksum")
	// ErrIncomplete means an operation needs every block of the version.
	ErrIncomplete = errors.New("cached version is incomplete")
	// ErrNotStored means fetched blocks could not be kept in the cache (the
	// cap is full of pinned versions, the disk is full or unwritable). Reads
	// still succeed; Fetch and FetchAllWith report it because they exist to
	// make blocks present.
	ErrNotStored = errors.New("blocks could not be stored in the cache")
	// ErrBusy means another handle or a fetch in progress uses the version.
	ErrBusy = errors.New("cached version is in use")
	// ErrClosed means the Cache or the Handle was closed.
	ErrClosed = errors.New("cache closed")
	// ErrNoSource means a block is missing and the cache was opened
	// without a Source (as the cache maintenance commands do).
	ErrNoSource = errors.New("block not cached and no source to fetch it from")
)

// LockedError means another process owns the cache directory.
type LockedError struct {
	Dir string
	PID int // 0 if the owner did not record it
}

func (e *LockedError) Error() string {
	if e.PID == 0 {
		return fmt.Sprintf("cache directory %s is in use by another ossmount process", e.Dir)
	}
	return fmt.Sprintf("cache directory %s is in use by ossmount process %d", e.Dir, e.PID)
}
