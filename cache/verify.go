package cache

import (
	"context"
	"errors"
	"io"

	"github.com/ossmount/ossmount/object"
)

// VerifyReport is what Verify found.
type VerifyReport struct {
	Versions int            // versions checked
	Blocks   int64          // present blocks read and checked
	Bytes    int64          // bytes read
	Dropped  []DroppedBlock // blocks that failed and were dropped
	Removed  int            // versions dropped because their data file was gone or replaced
	// Unverified names the complete versions whose object has no CRC64:
	// their blocks passed their own checks, but nothing checked the whole.
	Unverified []VersionRef
}

// VersionRef names one object version.
type VersionRef struct{ Bucket, Key, ETag string }

// DroppedBlock names a block that failed its check.
type DroppedBlock struct {
	Bucket, Key, ETag string
	Block             int64
	Off, Len          int64 // its byte range in the object
}

// Verify reads every present block of every version in the cache and
// checks it against its CRC64; blocks that fail are dropped (and will be
// fetched again when needed). Versions in use by Handles are checked too.
func (c *Cache) Verify(ctx context.Context) (VerifyReport, error) {
	var rep VerifyReport
	var list []meta
	err := c.forEachMeta(func(s scanned) bool {
		if s.ok {
			list = append(list, s.m)
		}
		return true
	})
	if err != nil {
		return rep, err
	}
	for _, m := range list {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		info := object.Info{Bucket: m.Bucket, Key: m.Key, ETag: m.ETag, Size: m.Size}
		v, _, err := c.pin(ctx, info, true, "")
		if errors.Is(err, errVersionGone) {
			rep.Removed++
			continue
		}
		if err != nil {
			return rep, err
		}
		c.verifyVersion(v, &rep)
		rep.Versions++
		v.mu.Lock()
		unverified := v.m.Complete && !v.m.HasCRC64
		v.mu.Unlock()
		if unverified {
			rep.Unverified = append(rep.Unverified, VersionRef{Bucket: m.Bucket, Key: m.Key, ETag: m.ETag})
		}
		c.unpin(v)
	}
	return rep, nil
}

// verifyVersion checks every present block of a pinned version.
func (c *Cache) verifyVersion(v *version, rep *VerifyReport) {
	bufp := getBlockBuf(v.bs)
	defer putBlockBuf(v.bs, bufp)
	for b := int64(0); b < v.nblocks; b++ {
		v.fileMu.RLock()
		v.mu.Lock()
		present, want := v.present.has(b), v.crcs[b]
		v.mu.Unlock()
		if !present {
			v.fileMu.RUnlock()
			continue
		}
		data := (*bufp)[:v.blockLen(b)]
		n, err := v.file.ReadAt(data, b*v.bs)
		if n == len(data) {
			err = nil
		} else if err == nil {
			err = io.ErrUnexpectedEOF
		}
		good := err == nil && object.CRC64(data, 0) == want
		if good {
			v.mu.Lock()
			if v.present.has(b) && v.crcs[b] == want {
				v.verified.set(b)
			}
			v.mu.Unlock()
		}
		v.fileMu.RUnlock()
		rep.Blocks++
		rep.Bytes += int64(n)
		if good {
			continue
		}
		if err == nil {
			c.checksumFailed(v, b, nil)
		} else {
			c.log.Warn("cache: cannot read a cached block; dropping it", "err", err)
		}
		c.dropIf(v, b, b, &want)
		rep.Dropped = append(rep.Dropped, DroppedBlock{
			Bucket: v.ref.Bucket, Key: v.ref.Key, ETag: v.ref.ETag,
			Block: b, Off: b * v.bs, Len: v.blockLen(b),
		})
	}
}
