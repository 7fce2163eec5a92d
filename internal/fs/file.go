package fs

import (
	"context"
	"errors"
	"sync"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/ossmount/ossmount/object"
	"github.com/ossmount/ossmount/rangefetch"
)

// fileNode is one version of an object. Its attributes never change; when
// the object is replaced in OSS, the name gets a new fileNode (see
// dirNode.child) and this one lives on only for files still open on it.
type fileNode struct {
	gofs.Inode
	fsys *filesystem
	dir  *dirMeta // the directory that listed it, told about newer versions
	name string
	info object.Info // immutable

	mu sync.Mutex
	// checked is when OSS last confirmed this is the current version.
	checked time.Time
	crc     uint64 // CRC64 from a HEAD, if one was made
	hasCRC  bool
	// cachedOpens counts open handles that do not use passthrough. The
	// kernel refuses (with EIO) to mix passthrough and cached opens of one
	// inode, so passthrough is offered only when there are none.
	cachedOpens int
}

var (
	_ gofs.NodeGetattrer     = (*fileNode)(nil)
	_ gofs.NodeOpener        = (*fileNode)(nil)
	_ gofs.NodeGetxattrer    = (*fileNode)(nil)
	_ gofs.NodeListxattrer   = (*fileNode)(nil)
	_ gofs.NodeSetattrer     = (*fileNode)(nil)
	_ gofs.NodeSetxattrer    = (*fileNode)(nil)
	_ gofs.NodeRemovexattrer = (*fileNode)(nil)
)

func (n *fileNode) ino() uint64 { return fileIno(n.info.Key, n.info.ETag) }

// confirmed records that a listing at `at` still showed this version.
func (n *fileNode) confirmed(at time.Time) {
	n.mu.Lock()
	if at.After(n.checked) {
		n.checked = at
	}
	n.mu.Unlock()
}

func (n *fileNode) Getattr(ctx context.Context, _ gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	n.fsys.fileAttr(&out.Attr, n.ino(), n.info.Size, n.info.LastModified)
	out.SetTimeout(n.fsys.cfg.MetadataTTL)
	return 0
}

// Open pins this version in the cache. Within the TTL of the listing that
// showed it, opening costs no request; after it, one HEAD checks that the
// version is still current. If it is not, the open fails with ESTALE,
// which makes the kernel look the name up again and open the new version.
func (n *fileNode) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	if flags&syscall.O_ACCMODE != syscall.O_RDONLY || flags&syscall.O_TRUNC != 0 {
		return nil, 0, syscall.EROFS
	}
	f := n.fsys
	ctx, cancel := f.requestContext(ctx)
	defer cancel()
	info, errno := n.current(ctx)
	if errno != 0 {
		return nil, 0, errno
	}
	ch, err := f.cache.Open(ctx, info)
	if err != nil {
		f.logFailure("open", info.Key, info.ETag, err)
		return nil, 0, f.errno(err)
	}
	h := newFileHandle(n, ch)
	f.stats.opens.Add(1)
	if h.passthrough {
		f.stats.passthrough.Add(1)
	}
	// Pages of this inode are always bytes of this one version, so they
	// stay valid across opens.
	return h, fuse.FOPEN_KEEP_CACHE, 0
}

// current returns the version's info for opening it, re-validated with a
// HEAD if the listing that showed it is older than the TTL.
func (n *fileNode) current(ctx context.Context) (object.Info, syscall.Errno) {
	f := n.fsys
	n.mu.Lock()
	info := n.info
	info.CRC64, info.HasCRC64 = n.crc, n.hasCRC
	fresh := n.dir.fresh(n.checked)
	n.mu.Unlock()
	if fresh {
		return info, 0
	}
	f.stats.heads.Add(1)
	st, err := f.cfg.Store.Stat(ctx, f.cfg.Bucket, n.info.Key)
	switch {
	case errors.Is(err, rangefetch.ErrNotFound):
		n.dir.remember(n.name, nil)
		return info, syscall.ESTALE
	case err != nil:
		f.logFailure("HEAD", n.info.Key, "", err)
		return info, f.errno(err)
	case st.ETag != n.info.ETag || st.Size != n.info.Size:
		f.log.Info("object changed in OSS; opening the new version", "key", n.info.Key,
			"old_etag", n.info.ETag, "new_etag", st.ETag)
		n.dir.remember(n.name, &st)
		return info, syscall.ESTALE
	}
	n.mu.Lock()
	n.checked = f.now()
	n.crc, n.hasCRC = st.CRC64, st.HasCRC64
	n.mu.Unlock()
	info.CRC64, info.HasCRC64 = st.CRC64, st.HasCRC64
	return info, 0
}

func (n *fileNode) xattrs() xattrs {
	return xattrs{
		{xattrSource, n.fsys.sourceURL(n.info.Key)},
		{xattrETag, n.info.ETag},
		{xattrCacheDir, n.fsys.cfg.CacheDir},
	}
}

func (n *fileNode) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	return n.xattrs().get(attr, dest)
}

func (n *fileNode) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	return n.xattrs().list(dest)
}

func (n *fileNode) Setattr(context.Context, gofs.FileHandle, *fuse.SetAttrIn, *fuse.AttrOut) syscall.Errno {
	return syscall.EROFS
}

func (n *fileNode) Setxattr(context.Context, string, []byte, uint32) syscall.Errno {
	return syscall.EROFS
}

func (n *fileNode) Removexattr(context.Context, string) syscall.Errno { return syscall.EROFS }
