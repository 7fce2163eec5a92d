package ossserver

import (
	"bytes"
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"hash/crc64"
	"sort"
	"strings"
	"sync"
	"time"
)

// MemStorage keeps objects in memory. It holds keys a filesystem cannot:
// "a" and "a/b" together, "a//b", a marker "a/", names longer than 255 bytes.
// It is safe for concurrent use.
type MemStorage struct {
	mu      sync.RWMutex
	buckets map[string]*memBucket
	gen     uint64 // mixed into ETags so that every Put makes a new one
}

type memBucket struct {
	created time.Time
	objects map[string]*memObject
	sorted  []string // keys in byte order; nil after a change, rebuilt on demand
}

type memObject struct {
	info ObjectInfo
	data []byte
	crc  uint64
}

// NewMemStorage returns an empty in-memory storage.
func NewMemStorage() *MemStorage {
	return &MemStorage{buckets: make(map[string]*memBucket)}
}

// CreateBucket creates an empty bucket if it does not exist yet.
func (m *MemStorage) CreateBucket(bucket string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.bucketLocked(bucket)
}

func (m *MemStorage) bucketLocked(bucket string) *memBucket {
	b := m.buckets[bucket]
	if b == nil {
		b = &memBucket{created: time.Now().UTC().Truncate(time.Second), objects: make(map[string]*memObject)}
		m.buckets[bucket] = b
	}
	return b
}

// Put stores a copy of data under bucket/key, creating the bucket. Every Put
// gives the object a new ETag, even with the same bytes, so tests can model
// "the object was replaced".
func (m *MemStorage) Put(bucket, key string, data []byte) {
	m.PutAt(bucket, key, data, time.Now())
}

// PutAt is Put with an explicit modification time.
func (m *MemStorage) PutAt(bucket, key string, data []byte, modTime time.Time) {
	data = bytes.Clone(data)
	crc := crc64.Checksum(data, crcTable)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gen++
	h := md5.New()
	h.Write(data)
	var g [8]byte
	binary.BigEndian.PutUint64(g[:], m.gen)
	h.Write(g[:])
	b := m.bucketLocked(bucket)
	if _, ok := b.objects[key]; !ok {
		b.sorted = nil
	}
	b.objects[key] = &memObject{
		info: ObjectInfo{
			Key:          key,
			Size:         int64(len(data)),
			ETag:         `"` + strings.ToUpper(hex.EncodeToString(h.Sum(nil))) + `"`,
			LastModified: modTime.UTC().Truncate(time.Second),
		},
		data: data,
		crc:  crc,
	}
}

// Delete removes bucket/key if present.
func (m *MemStorage) Delete(bucket, key string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if b := m.buckets[bucket]; b != nil {
		if _, ok := b.objects[key]; ok {
			delete(b.objects, key)
			b.sorted = nil
		}
	}
}

// Buckets implements Storage.
func (m *MemStorage) Buckets() ([]BucketInfo, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]BucketInfo, 0, len(m.buckets))
	for name, b := range m.buckets {
		out = append(out, BucketInfo{Name: name, Created: b.created})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Bucket implements Storage.
func (m *MemStorage) Bucket(name string) (BucketInfo, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	b := m.buckets[name]
	if b == nil {
		return BucketInfo{}, ErrNoSuchBucket
	}
	return BucketInfo{Name: name, Created: b.created}, nil
}

func (m *MemStorage) object(bucket, key string) (*memObject, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	b := m.buckets[bucket]
	if b == nil {
		return nil, ErrNoSuchBucket
	}
	o := b.objects[key]
	if o == nil {
		return nil, ErrNoSuchKey
	}
	return o, nil
}

// Stat implements Storage.
func (m *MemStorage) Stat(bucket, key string) (ObjectInfo, error) {
	o, err := m.object(bucket, key)
	if err != nil {
		return ObjectInfo{}, err
	}
	return o.info, nil
}

// Open implements Storage. The version keeps the byte slice it was opened
// with; a later Put installs a new slice and never touches this one.
func (m *MemStorage) Open(bucket, key string) (Version, error) {
	o, err := m.object(bucket, key)
	if err != nil {
		return nil, err
	}
	return memVersion{o}, nil
}

// Walk implements Storage.
func (m *MemStorage) Walk(bucket, prefix, after string, fn WalkFunc) error {
	keys, b, err := m.sortedKeys(bucket)
	if err != nil {
		return err
	}
	start := prefix
	if after >= prefix {
		start = after + "\x00" // the smallest key strictly after `after`
	}
	skip := ""
	for i := sort.SearchStrings(keys, start); i < len(keys); i++ {
		k := keys[i]
		if !strings.HasPrefix(k, prefix) {
			break
		}
		if skip != "" && strings.HasPrefix(k, skip) {
			continue
		}
		m.mu.RLock()
		o := b.objects[k]
		m.mu.RUnlock()
		if o == nil { // deleted since the snapshot
			continue
		}
		s, stop := fn(o.info)
		if stop {
			return nil
		}
		skip = s
	}
	return nil
}

// sortedKeys returns a snapshot of the bucket's keys in byte order. The slice
// is never modified after it is built, so callers may use it unlocked.
func (m *MemStorage) sortedKeys(bucket string) ([]string, *memBucket, error) {
	m.mu.RLock()
	b := m.buckets[bucket]
	var keys []string
	if b != nil {
		keys = b.sorted
	}
	m.mu.RUnlock()
	if b == nil {
		return nil, nil, ErrNoSuchBucket
	}
	if keys != nil {
		return keys, b, nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if b.sorted == nil {
		keys = make([]string, 0, len(b.objects))
		for k := range b.objects {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.sorted = keys
	}
	return b.sorted, b, nil
}

type memVersion struct{ o *memObject }

func (v memVersion) ReadAt(p []byte, off int64) (int, error) {
	return bytes.NewReader(v.o.data).ReadAt(p, off)
}
func (v memVersion) Close() error          { return nil }
func (v memVersion) Info() ObjectInfo      { return v.o.info }
func (v memVersion) Check() error          { return nil }
func (v memVersion) CRC64() (uint64, bool) { return v.o.crc, true }
