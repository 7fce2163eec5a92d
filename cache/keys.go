package cache

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
)

// vid identifies one object version: the first 16 bytes of
// sha256(bucket NUL key NUL ETag). The full hash names the data file.
type vid [16]byte

func (v vid) String() string { return hex.EncodeToString(v[:]) }

// versionHash is the SHA-256 that names a version.
func versionHash(bucket, key, etag string) [32]byte {
	h := sha256.New()
	h.Write([]byte(bucket))
	h.Write([]byte{0})
	h.Write([]byte(key))
	h.Write([]byte{0})
	h.Write([]byte(etag))
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}

func versionID(bucket, key, etag string) vid {
	sum := versionHash(bucket, key, etag)
	var id vid
	copy(id[:], sum[:16])
	return id
}

// keyID identifies an object key independently of its version, for the
// key -> current version mapping.
func keyID(bucket, key string) [16]byte {
	h := sha256.New()
	h.Write([]byte(bucket))
	h.Write([]byte{0})
	h.Write([]byte(key))
	var sum [32]byte
	h.Sum(sum[:0])
	var id [16]byte
	copy(id[:], sum[:16])
	return id
}

// Key prefixes; see doc.go for the layout.
const (
	prefixConfig  = 'c'
	prefixMeta    = 'm'
	prefixBlock   = 'b'
	prefixKeyMap  = 'k'
	prefixRecency = 'r'
)

func metaKey(id vid) []byte {
	k := make([]byte, 1+16)
	k[0] = prefixMeta
	copy(k[1:], id[:])
	return k
}

func blockPrefix(id vid) []byte {
	k := make([]byte, 1+16, 1+16+8)
	k[0] = prefixBlock
	copy(k[1:], id[:])
	return k
}

func blockKey(id vid, block int64) []byte {
	return binary.BigEndian.AppendUint64(blockPrefix(id), uint64(block))
}

// parseBlockKey splits a "b" key; ok is false for a malformed key.
func parseBlockKey(k []byte) (id vid, block int64, ok bool) {
	if len(k) != 1+16+8 || k[0] != prefixBlock {
		return id, 0, false
	}
	copy(id[:], k[1:17])
	return id, int64(binary.BigEndian.Uint64(k[17:])), true
}

func keyMapKey(bucket, key string) []byte {
	id := keyID(bucket, key)
	k := make([]byte, 1+16)
	k[0] = prefixKeyMap
	copy(k[1:], id[:])
	return k
}

func recencyKey(access int64, id vid) []byte {
	k := make([]byte, 1, 1+8+16)
	k[0] = prefixRecency
	k = binary.BigEndian.AppendUint64(k, uint64(access))
	return append(k, id[:]...)
}

func parseRecencyKey(k []byte) (id vid, ok bool) {
	if len(k) != 1+8+16 || k[0] != prefixRecency {
		return id, false
	}
	copy(id[:], k[9:])
	return id, true
}

func configKey(name string) []byte { return append([]byte{prefixConfig}, name...) }

func encodeCRC(crc uint64) []byte { return binary.BigEndian.AppendUint64(nil, crc) }
