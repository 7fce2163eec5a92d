package ossserver

import (
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"io/fs"
	"strings"
	"syscall"
)

// fileIdentity is what distinguishes one version of a file from another
// without reading it: a rename-replace changes the inode, an in-place
// rewrite changes the size or the change time.
type fileIdentity struct {
	dev, ino, size, mtimeNs, ctimeNs uint64
	nlink                            uint64 // not part of the ETag; see rewrittenSince
}

func statIdentity(fi fs.FileInfo) fileIdentity {
	id := fileIdentity{size: uint64(fi.Size()), mtimeNs: uint64(fi.ModTime().UnixNano())}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		id.dev, id.ino, id.nlink = st.Dev, st.Ino, uint64(st.Nlink)
		id.ctimeNs = uint64(st.Ctim.Sec)*1e9 + uint64(st.Ctim.Nsec)
	}
	return id
}

// rewrittenSince reports whether the open file's bytes may differ from
// when it looked like old. A change of size or mtime means a write. A
// change of ctime alone also means a write, unless the link count changed
// too: unlinking the file (which a rename-replace does to the old version)
// updates ctime without touching the bytes we are serving.
func (id fileIdentity) rewrittenSince(old fileIdentity) bool {
	if id.size != old.size || id.mtimeNs != old.mtimeNs {
		return true
	}
	return id.ctimeNs != old.ctimeNs && id.nlink == old.nlink
}

// etag hashes the identity into the quoted upper-hex form OSS uses.
func (id fileIdentity) etag() string {
	var b [40]byte
	binary.BigEndian.PutUint64(b[0:], id.dev)
	binary.BigEndian.PutUint64(b[8:], id.ino)
	binary.BigEndian.PutUint64(b[16:], id.size)
	binary.BigEndian.PutUint64(b[24:], id.mtimeNs)
	binary.BigEndian.PutUint64(b[32:], id.ctimeNs)
	sum := md5.Sum(b[:])
	return `"` + strings.ToUpper(hex.EncodeToString(sum[:])) + `"`
}
