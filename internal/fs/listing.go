package fs

import (
	"context"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ossmount/ossmount/object"
)

const (
	// listPageKeys is the page size of directory listings, the OSS maximum.
	listPageKeys = 1000
	// probeKeys is the page size of a single-name lookup: enough that keys
	// sorting between "name" and "name/" (such as "name.txt") rarely push
	// the "name/" prefix off the page.
	probeKeys = 100
	// maxProbes bounds the remembered single-name lookups of one
	// directory; past it, expired ones are dropped.
	maxProbes = 4096
)

// entry is one name in a directory, as OSS last described it.
type entry struct {
	name  string
	isDir bool
	info  object.Info // files only: size, ETag, Last-Modified
}

// listing is a complete, immutable snapshot of a directory.
type listing struct {
	entries []entry // sorted by name
	byName  map[string]int
	at      time.Time // when the listing was requested
}

func (l *listing) find(name string) (entry, bool) {
	i, ok := l.byName[name]
	if !ok {
		return entry{}, false
	}
	return l.entries[i], true
}

// probe is the remembered answer to a lookup of one name; e is nil when
// the name does not exist (a negative entry).
type probe struct {
	e  *entry
	at time.Time
}

// dirMeta is the metadata cache of one directory: its last full listing
// and the answers to lookups of single names, each trusted for the TTL.
// Concurrent requests for the same answer share one OSS request.
type dirMeta struct {
	fsys   *filesystem
	prefix string // key prefix of the directory: "" or ending in "/"

	mu         sync.Mutex
	list       *listing
	listCall   *call[*listing]
	probes     map[string]probe
	probeCalls map[string]*call[probe]
}

func newDirMeta(fsys *filesystem, prefix string) *dirMeta {
	return &dirMeta{fsys: fsys, prefix: prefix}
}

func (d *dirMeta) fresh(at time.Time) bool {
	return !at.IsZero() && d.fsys.now().Sub(at) < d.fsys.cfg.MetadataTTL
}

// snapshot returns a listing of the directory no older than the TTL,
// listing it again if needed.
func (d *dirMeta) snapshot(ctx context.Context) (*listing, error) {
	for {
		d.mu.Lock()
		if d.list != nil && d.fresh(d.list.at) {
			l := d.list
			d.mu.Unlock()
			return l, nil
		}
		c := d.listCall
		if c == nil || !c.join() {
			c = d.startListing()
		}
		d.mu.Unlock()
		l, err := c.wait(ctx)
		if err == nil || ctx.Err() != nil || !isAbandoned(c) {
			return l, err
		}
		// Every waiter before us gave up while we joined; ask again.
	}
}

func isAbandoned[T any](c *call[T]) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.abandoned
}

// lookup answers whether name exists in the directory and what it is. It
// returns the time OSS said so. A name the directory's listing already
// answers costs nothing; otherwise one small listing starting at the name
// tells file from directory from nothing.
func (d *dirMeta) lookup(ctx context.Context, name string) (entry, bool, time.Time, error) {
	for {
		d.mu.Lock()
		p, havePr := d.probes[name]
		l := d.list
		switch {
		case havePr && d.fresh(p.at) && (l == nil || !p.at.Before(l.at)):
			d.mu.Unlock()
			return p.answer()
		case l != nil && d.fresh(l.at):
			d.mu.Unlock()
			e, ok := l.find(name)
			return e, ok, l.at, nil
		}
		if lc := d.listCall; lc != nil && lc.join() {
			// A listing is on its way: it answers this lookup too.
			d.mu.Unlock()
			l, err := lc.wait(ctx)
			if err != nil {
				if ctx.Err() == nil && isAbandoned(lc) {
					continue
				}
				return entry{}, false, time.Time{}, err
			}
			e, ok := l.find(name)
			return e, ok, l.at, nil
		}
		c := d.probeCalls[name]
		if c == nil || !c.join() {
			c = d.startProbe(name)
		}
		d.mu.Unlock()
		p, err := c.wait(ctx)
		if err != nil {
			if ctx.Err() == nil && isAbandoned(c) {
				continue
			}
			return entry{}, false, time.Time{}, err
		}
		return p.answer()
	}
}

func (p probe) answer() (entry, bool, time.Time, error) {
	if p.e == nil {
		return entry{}, false, p.at, nil
	}
	return *p.e, true, p.at, nil
}

// remember records what a HEAD said about a file of this directory, so that
// the next lookup shows the version OSS has now; info nil records that the
// object is gone.
func (d *dirMeta) remember(name string, info *object.Info) {
	p := probe{at: d.fsys.now()}
	if info != nil {
		p.e = &entry{name: name, info: *info}
	}
	d.mu.Lock()
	d.setProbe(name, p)
	d.mu.Unlock()
}

// setProbe stores p; d.mu must be held.
func (d *dirMeta) setProbe(name string, p probe) {
	if d.probes == nil {
		d.probes = make(map[string]probe)
	}
	if len(d.probes) >= maxProbes {
		for n, old := range d.probes {
			if !d.fresh(old.at) {
				delete(d.probes, n)
			}
		}
	}
	d.probes[name] = p
}

// startListing starts listing the directory and stores the result when it
// arrives; d.mu must be held (the goroutine reads c under it).
func (d *dirMeta) startListing() *call[*listing] {
	var c *call[*listing]
	c = startCall(d.fsys.ctx, &d.fsys.bg, func(ctx context.Context) (*listing, error) {
		l, err := d.fetchListing(ctx)
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.listCall == c {
			d.listCall = nil
		}
		if err != nil {
			return nil, err
		}
		d.list = l
		// The listing answers every name now; older single-name
		// answers would only shadow it.
		for n, p := range d.probes {
			if p.at.Before(l.at) {
				delete(d.probes, n)
			}
		}
		return l, nil
	})
	d.listCall = c
	return c
}

// startProbe starts a lookup of one name; d.mu must be held.
func (d *dirMeta) startProbe(name string) *call[probe] {
	var c *call[probe]
	c = startCall(d.fsys.ctx, &d.fsys.bg, func(ctx context.Context) (probe, error) {
		p, err := d.probeName(ctx, name)
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.probeCalls[name] == c {
			delete(d.probeCalls, name)
		}
		if err == nil {
			d.setProbe(name, p)
		}
		return p, err
	})
	if d.probeCalls == nil {
		d.probeCalls = make(map[string]*call[probe])
	}
	d.probeCalls[name] = c
	return c
}

// fetchListing lists the whole directory, page by page.
func (d *dirMeta) fetchListing(ctx context.Context) (*listing, error) {
	f := d.fsys
	at := f.now()
	files := make(map[string]object.Info)
	dirs := make(map[string]bool)
	token := ""
	for {
		f.stats.lists.Add(1)
		page, err := f.cfg.Store.ListPage(ctx, f.cfg.Bucket, d.prefix, token, listPageKeys)
		if err != nil {
			f.logFailure("LIST", d.prefix, "", err)
			return nil, err
		}
		for _, o := range page.Objects {
			name, ok := d.objectName(o.Key)
			if ok {
				files[name] = o
			}
		}
		for _, p := range page.Prefixes {
			name, ok := d.prefixName(p)
			if ok {
				dirs[name] = true
			}
		}
		if page.NextToken == "" {
			break
		}
		token = page.NextToken
	}
	l := &listing{at: at, entries: make([]entry, 0, len(files)+len(dirs))}
	for name := range dirs {
		l.entries = append(l.entries, entry{name: name, isDir: true})
	}
	for name, info := range files {
		if dirs[name] {
			d.warnShadowed(info.Key)
			continue
		}
		l.entries = append(l.entries, entry{name: name, info: info})
	}
	sort.Slice(l.entries, func(i, j int) bool { return l.entries[i].name < l.entries[j].name })
	l.byName = make(map[string]int, len(l.entries))
	for i, e := range l.entries {
		l.byName[e.name] = i
	}
	return l, nil
}

// probeName finds out with one request (rarely two) whether name is a file,
// a directory or nothing.
func (d *dirMeta) probeName(ctx context.Context, name string) (probe, error) {
	f := d.fsys
	key := d.prefix + name
	at := f.now()
	finish := func(p probe, err error) (probe, error) {
		if err != nil {
			f.logFailure("LIST", key, "", err)
		}
		return p, err
	}
	f.stats.lists.Add(1)
	page, err := f.cfg.Store.ListPage(ctx, f.cfg.Bucket, key, "", probeKeys)
	if err != nil {
		return finish(probe{}, err)
	}
	var file *object.Info
	isDir := false
	last := ""
	for i, o := range page.Objects {
		if o.Key == key {
			file = &page.Objects[i]
		}
		last = max(last, o.Key)
	}
	for _, p := range page.Prefixes {
		if p == key+"/" {
			isDir = true
		}
		last = max(last, p)
	}
	if !isDir && page.NextToken != "" && last < key+"/" {
		// Keys such as "name.txt" filled the page before "name/" could
		// appear: ask about the directory alone.
		f.stats.lists.Add(1)
		sub, err := f.cfg.Store.ListPage(ctx, f.cfg.Bucket, key+"/", "", 1)
		if err != nil {
			return finish(probe{}, err)
		}
		isDir = len(sub.Objects)+len(sub.Prefixes) > 0
	}
	switch {
	case isDir:
		if file != nil {
			d.warnShadowed(key)
		}
		return finish(probe{e: &entry{name: name, isDir: true}, at: at}, nil)
	case file != nil:
		return finish(probe{e: &entry{name: name, info: *file}, at: at}, nil)
	}
	return finish(probe{at: at}, nil)
}

// objectName turns an object key of this directory's listing into a file
// name; the directory's own marker object ("dir/") and keys that make no
// valid name are left out.
func (d *dirMeta) objectName(key string) (string, bool) {
	name, ok := strings.CutPrefix(key, d.prefix)
	if !ok || name == "" {
		return "", false
	}
	if strings.Contains(name, "/") {
		return "", false
	}
	if p := nameProblem(name); p != "" {
		d.fsys.warnOnce("name\x00"+key, "skipping object whose key makes no valid file name", "key", key, "reason", p)
		return "", false
	}
	return name, true
}

// prefixName turns a common prefix ("dir/sub/") into a directory name.
func (d *dirMeta) prefixName(prefix string) (string, bool) {
	rest, ok := strings.CutPrefix(prefix, d.prefix)
	if !ok {
		return "", false
	}
	name, ok := strings.CutSuffix(rest, "/")
	if !ok || strings.Contains(name, "/") {
		return "", false
	}
	if p := nameProblem(name); p != "" {
		d.fsys.warnOnce("name\x00"+prefix, "skipping keys under a prefix that makes no valid directory name", "prefix", prefix, "reason", p)
		return "", false
	}
	return name, true
}

// warnShadowed reports an object hidden by a directory of the same name.
func (d *dirMeta) warnShadowed(key string) {
	d.fsys.warnOnce("shadow\x00"+key, "object hidden by a directory of the same name; read it with ossmount materialize or another client",
		"key", key, "directory", key+"/")
}
