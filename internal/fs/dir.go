package fs

import (
	"context"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// dirNode is a directory: a key prefix of the bucket. Its children are
// found through its dirMeta (listings and name probes).
type dirNode struct {
	gofs.Inode
	fsys   *filesystem
	meta   *dirMeta
	isRoot bool
}

var (
	_ gofs.NodeGetattrer      = (*dirNode)(nil)
	_ gofs.NodeLookuper       = (*dirNode)(nil)
	_ gofs.NodeOpendirHandler = (*dirNode)(nil)
	_ gofs.NodeGetxattrer     = (*dirNode)(nil)
	_ gofs.NodeListxattrer    = (*dirNode)(nil)
	_ gofs.NodeStatfser       = (*dirNode)(nil)
	_ gofs.NodeSetattrer      = (*dirNode)(nil)
	_ gofs.NodeMkdirer        = (*dirNode)(nil)
	_ gofs.NodeMknoder        = (*dirNode)(nil)
	_ gofs.NodeCreater        = (*dirNode)(nil)
	_ gofs.NodeTmpfiler       = (*dirNode)(nil)
	_ gofs.NodeUnlinker       = (*dirNode)(nil)
	_ gofs.NodeRmdirer        = (*dirNode)(nil)
	_ gofs.NodeRenamer        = (*dirNode)(nil)
	_ gofs.NodeSymlinker      = (*dirNode)(nil)
	_ gofs.NodeLinker         = (*dirNode)(nil)
	_ gofs.NodeSetxattrer     = (*dirNode)(nil)
	_ gofs.NodeRemovexattrer  = (*dirNode)(nil)
)

func newDirNode(fsys *filesystem, prefix string) *dirNode {
	return &dirNode{fsys: fsys, meta: newDirMeta(fsys, prefix)}
}

func (d *dirNode) ino() uint64 {
	if d.isRoot {
		return 1
	}
	return dirIno(d.meta.prefix)
}

// Getattr describes the directory. Directories have no object of their own
// (a marker object, if any, carries nothing useful), so their attributes
// never change and are cached for the TTL.
func (d *dirNode) Getattr(ctx context.Context, _ gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	d.fsys.dirAttr(&out.Attr, d.ino())
	out.SetTimeout(d.fsys.cfg.MetadataTTL)
	return 0
}

// Lookup finds one name: from the directory's listing when it is fresh, or
// with a single small listing starting at the name.
func (d *dirNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	d.fsys.stats.lookups.Add(1)
	ctx, cancel := d.fsys.requestContext(ctx)
	defer cancel()
	e, ok, at, err := d.meta.lookup(ctx, name)
	if err != nil {
		return nil, d.fsys.errno(err)
	}
	if !ok {
		// Negative entries are cached by the kernel for the rest of the TTL.
		out.SetEntryTimeout(d.fsys.remaining(at))
		return nil, syscall.ENOENT
	}
	return d.child(ctx, e, at, out), 0
}

// child returns the inode for entry e, reusing the existing one when it
// still stands for the same thing, and fills out. A file whose ETag
// changed gets a new inode: the kernel then drops the old version's pages
// and open files of the old version keep reading the old version.
func (d *dirNode) child(ctx context.Context, e entry, at time.Time, out *fuse.EntryOut) *gofs.Inode {
	f := d.fsys
	timeout := f.remaining(at)
	out.SetEntryTimeout(timeout)
	if e.isDir {
		prefix := childPrefix(d.meta.prefix, e.name)
		ino := dirIno(prefix)
		f.dirAttr(&out.Attr, ino)
		out.SetAttrTimeout(f.cfg.MetadataTTL)
		if ch := d.GetChild(e.name); ch != nil {
			if dn, ok := ch.Operations().(*dirNode); ok && dn.meta.prefix == prefix {
				return ch
			}
		}
		return d.NewInode(ctx, newDirNode(f, prefix), gofs.StableAttr{Mode: syscall.S_IFDIR, Ino: ino})
	}
	info := e.info
	ino := fileIno(info.Key, info.ETag)
	f.fileAttr(&out.Attr, ino, info.Size, info.LastModified)
	// A version's attributes never change; only which version a name
	// means does, and that is bounded by the entry timeout.
	out.SetAttrTimeout(f.cfg.MetadataTTL)
	if ch := d.GetChild(e.name); ch != nil {
		if fn, ok := ch.Operations().(*fileNode); ok && fn.info.ETag == info.ETag && fn.info.Size == info.Size {
			fn.confirmed(at)
			return ch
		}
	}
	node := &fileNode{fsys: f, dir: d.meta, name: e.name, info: info, checked: at}
	return d.NewInode(ctx, node, gofs.StableAttr{Mode: syscall.S_IFREG, Ino: ino})
}

// OpendirHandle returns a handle that lists the directory from one
// snapshot and answers READDIRPLUS lookups from that same snapshot, so
// "ls -l" costs only the listing.
func (d *dirNode) OpendirHandle(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	return &dirHandle{dir: d}, 0, 0
}

func (d *dirNode) xattrs() xattrs {
	x := xattrs{
		{xattrSource, d.fsys.sourceURL(d.meta.prefix)},
		{xattrCacheDir, d.fsys.cfg.CacheDir},
	}
	if d.isRoot {
		x = append(x, struct{ name, value string }{xattrPID, pidString()})
	}
	return x
}

func (d *dirNode) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	return d.xattrs().get(attr, dest)
}

func (d *dirNode) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	return d.xattrs().list(dest)
}

func (d *dirNode) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	out.Bsize = 4096
	out.Frsize = 4096
	out.NameLen = maxNameLen
	return 0
}

// The mount is read-only: the kernel already refuses most changes because
// the mount is "ro", and these answer the rest.

func (d *dirNode) Setattr(context.Context, gofs.FileHandle, *fuse.SetAttrIn, *fuse.AttrOut) syscall.Errno {
	return syscall.EROFS
}

func (d *dirNode) Mkdir(context.Context, string, uint32, *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return nil, syscall.EROFS
}

func (d *dirNode) Mknod(context.Context, string, uint32, uint32, *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return nil, syscall.EROFS
}

func (d *dirNode) Create(context.Context, string, uint32, uint32, *fuse.EntryOut) (*gofs.Inode, gofs.FileHandle, uint32, syscall.Errno) {
	return nil, nil, 0, syscall.EROFS
}

func (d *dirNode) Tmpfile(context.Context, uint32, uint32, *fuse.EntryOut) (*gofs.Inode, gofs.FileHandle, uint32, syscall.Errno) {
	return nil, nil, 0, syscall.EROFS
}

func (d *dirNode) Unlink(context.Context, string) syscall.Errno { return syscall.EROFS }

func (d *dirNode) Rmdir(context.Context, string) syscall.Errno { return syscall.EROFS }

func (d *dirNode) Rename(context.Context, string, gofs.InodeEmbedder, string, uint32) syscall.Errno {
	return syscall.EROFS
}

func (d *dirNode) Symlink(context.Context, string, string, *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return nil, syscall.EROFS
}

func (d *dirNode) Link(context.Context, gofs.InodeEmbedder, string, *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return nil, syscall.EROFS
}

func (d *dirNode) Setxattr(context.Context, string, []byte, uint32) syscall.Errno {
	return syscall.EROFS
}

func (d *dirNode) Removexattr(context.Context, string) syscall.Errno { return syscall.EROFS }

// dirHandle is an open directory: one listing snapshot read in order.
type dirHandle struct {
	dir  *dirNode
	list *listing
	pos  int // entries[pos-2] is next; 0 and 1 are "." and ".."
}

var (
	_ gofs.FileReaddirenter = (*dirHandle)(nil)
	_ gofs.FileLookuper     = (*dirHandle)(nil)
	_ gofs.FileSeekdirer    = (*dirHandle)(nil)
)

// Readdirent returns the next entry. go-fuse serialises the calls on one
// handle, so the handle needs no lock.
func (h *dirHandle) Readdirent(ctx context.Context) (*fuse.DirEntry, syscall.Errno) {
	if h.list == nil {
		ctx, cancel := h.dir.fsys.requestContext(ctx)
		defer cancel()
		l, err := h.dir.meta.snapshot(ctx)
		if err != nil {
			return nil, h.dir.fsys.errno(err)
		}
		h.list = l
	}
	var de fuse.DirEntry
	switch {
	case h.pos == 0:
		de = fuse.DirEntry{Name: ".", Mode: syscall.S_IFDIR, Ino: h.dir.ino()}
	case h.pos == 1:
		de = fuse.DirEntry{Name: "..", Mode: syscall.S_IFDIR}
	case h.pos-2 < len(h.list.entries):
		e := h.list.entries[h.pos-2]
		if e.isDir {
			de = fuse.DirEntry{Name: e.name, Mode: syscall.S_IFDIR, Ino: dirIno(childPrefix(h.dir.meta.prefix, e.name))}
		} else {
			de = fuse.DirEntry{Name: e.name, Mode: syscall.S_IFREG, Ino: fileIno(e.info.Key, e.info.ETag)}
		}
	default:
		return nil, 0
	}
	h.pos++
	de.Off = uint64(h.pos)
	return &de, 0
}

// Lookup answers READDIRPLUS from the snapshot being listed.
func (h *dirHandle) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	if h.list == nil {
		return h.dir.Lookup(ctx, name, out)
	}
	e, ok := h.list.find(name)
	if !ok {
		return nil, syscall.ENOENT
	}
	return h.dir.child(ctx, e, h.list.at, out), 0
}

// Seekdir moves to an offset returned earlier; offset 0 (rewinddir) also
// takes a fresh snapshot if the old one expired.
func (h *dirHandle) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	h.pos = int(off)
	if off == 0 && h.list != nil && !h.dir.meta.fresh(h.list.at) {
		h.list = nil
	}
	return 0
}
