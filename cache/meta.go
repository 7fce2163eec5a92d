package cache

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// meta is the index record of one object version ("m" vid).
type meta struct {
	Bucket, Key, ETag string
	Size              int64
	CRC64             uint64 // the object's CRC64 as OSS reported it
	HasCRC64          bool
	Complete          bool   // every block present and the combined CRC checked
	Inode             uint64 // of the data file, to notice a replaced or recreated file
	Access            int64  // unix nanoseconds of the last open or close; also in the "r" key
	Created           int64  // unix nanoseconds
	// Path is the data file of a version kept outside the cache
	// directory (Cache.OpenOutside); "" for one in data/.
	Path string
}

// metaFormat is the record format; metaFormatOutside is the same record
// followed by Path, written only for versions outside the cache directory
// so that the records of every other version stay as they were.
const (
	metaFormat        = 1
	metaFormatOutside = 2
)

const (
	flagHasCRC64 = 1 << iota
	flagComplete
)

func (m meta) encode() []byte {
	b := make([]byte, 0, 64+len(m.Bucket)+len(m.Key)+len(m.ETag))
	if m.Path != "" {
		b = append(b, metaFormatOutside)
	} else {
		b = append(b, metaFormat)
	}
	for _, s := range []string{m.Bucket, m.Key, m.ETag} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	var flags byte
	if m.HasCRC64 {
		flags |= flagHasCRC64
	}
	if m.Complete {
		flags |= flagComplete
	}
	b = append(b, flags)
	b = binary.BigEndian.AppendUint64(b, uint64(m.Size))
	b = binary.BigEndian.AppendUint64(b, m.CRC64)
	b = binary.BigEndian.AppendUint64(b, m.Inode)
	b = binary.BigEndian.AppendUint64(b, uint64(m.Access))
	b = binary.BigEndian.AppendUint64(b, uint64(m.Created))
	if m.Path != "" {
		b = binary.AppendUvarint(b, uint64(len(m.Path)))
		b = append(b, m.Path...)
	}
	return b
}

var errBadMeta = errors.New("malformed version record")

func decodeMeta(b []byte) (meta, error) {
	var m meta
	if len(b) < 1 || (b[0] != metaFormat && b[0] != metaFormatOutside) {
		return m, fmt.Errorf("%w: unknown format", errBadMeta)
	}
	outside := b[0] == metaFormatOutside
	b = b[1:]
	var strs [3]string
	for i := range strs {
		n, k := binary.Uvarint(b)
		if k <= 0 || uint64(len(b)-k) < n {
			return m, errBadMeta
		}
		strs[i] = string(b[k : k+int(n)])
		b = b[k+int(n):]
	}
	const fixed = 1 + 5*8
	if len(b) < fixed || (!outside && len(b) != fixed) {
		return m, errBadMeta
	}
	if outside {
		rest := b[fixed:]
		n, k := binary.Uvarint(rest)
		if k <= 0 || n == 0 || uint64(len(rest)-k) != n {
			return m, errBadMeta
		}
		m.Path = string(rest[k:])
	}
	m.Bucket, m.Key, m.ETag = strs[0], strs[1], strs[2]
	m.HasCRC64 = b[0]&flagHasCRC64 != 0
	m.Complete = b[0]&flagComplete != 0
	b = b[1:]
	m.Size = int64(binary.BigEndian.Uint64(b))
	m.CRC64 = binary.BigEndian.Uint64(b[8:])
	m.Inode = binary.BigEndian.Uint64(b[16:])
	m.Access = int64(binary.BigEndian.Uint64(b[24:]))
	m.Created = int64(binary.BigEndian.Uint64(b[32:]))
	return m, nil
}
