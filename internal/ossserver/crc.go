package ossserver

import (
	"container/list"
	"hash/crc64"
	"io"
	"sync"
)

// crcTable is CRC-64/ECMA in Go's reflected form, which is what OSS reports
// in x-oss-hash-crc64ecma.
var crcTable = crc64.MakeTable(crc64.ECMA)

// crcCache remembers the CRC-64 of object versions. Computing it means
// reading the whole object, so it is done once per (bucket, key, ETag);
// concurrent requests for the same version wait for one computation. The
// cache is bounded: least recently used versions are forgotten.
type crcCache struct {
	mu    sync.Mutex
	max   int
	items map[string]*list.Element
	lru   list.List // of *crcEntry, most recent first
}

type crcEntry struct {
	id   string
	done chan struct{}
	crc  uint64
	err  error
}

func newCRCCache(max int) *crcCache {
	return &crcCache{max: max, items: make(map[string]*list.Element)}
}

// get returns the CRC-64 of v, computing it if needed.
func (c *crcCache) get(bucket, key string, v Version) (uint64, error) {
	if cv, ok := v.(crcVersion); ok {
		if crc, ok := cv.CRC64(); ok {
			return crc, nil
		}
	}
	id := bucket + "\x00" + key + "\x00" + v.Info().ETag
	c.mu.Lock()
	if el, ok := c.items[id]; ok {
		c.lru.MoveToFront(el)
		e := el.Value.(*crcEntry)
		c.mu.Unlock()
		<-e.done
		return e.crc, e.err
	}
	e := &crcEntry{id: id, done: make(chan struct{})}
	c.items[id] = c.lru.PushFront(e)
	for c.lru.Len() > c.max {
		old := c.lru.Back()
		c.lru.Remove(old)
		delete(c.items, old.Value.(*crcEntry).id)
	}
	c.mu.Unlock()

	e.crc, e.err = checksum(v)
	if e.err != nil {
		c.mu.Lock()
		if el, ok := c.items[id]; ok && el.Value == e {
			c.lru.Remove(el)
			delete(c.items, id)
		}
		c.mu.Unlock()
	}
	close(e.done)
	return e.crc, e.err
}

// checksum reads the whole version. A version that changed while it was
// read has no trustworthy checksum.
func checksum(v Version) (uint64, error) {
	h := crc64.New(crcTable)
	bp := getBuffer(copyChunk)
	defer putBuffer(bp)
	if _, err := io.CopyBuffer(h, io.NewSectionReader(v, 0, v.Info().Size), *bp); err != nil {
		return 0, err
	}
	if err := v.Check(); err != nil {
		return 0, err
	}
	return h.Sum64(), nil
}
