// Package mountinfo reads the kernel's table of mounts
// (/proc/self/mountinfo, proc(5)), so that ossmount can tell its own mounts
// from every other filesystem before it unmounts anything, and find its
// mounts for "ossmount status".
//
// Parse accepts only well-formed lines: a line it cannot read is an error,
// never a guess, because a wrong answer here could unmount the wrong
// filesystem.
package mountinfo

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// Mount is one line of mountinfo.
type Mount struct {
	ID, ParentID int
	Major, Minor uint32
	Root         string // the root of the mount within its filesystem
	Point        string // the mount point, as this process sees it
	Options      string // per-mount options: "rw,nosuid,..."
	FSType       string // "ext4", "fuse.ossmount", ...
	Source       string // "oss://bucket/prefix", "/dev/vda1", "tmpfs", ...
	SuperOptions string // per-superblock options
}

// Path is where the kernel publishes the mounts this process sees.
const Path = "/proc/self/mountinfo"

// Read parses Path.
func Read() ([]Mount, error) {
	f, err := os.Open(Path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Parse(f)
}

// Parse reads mountinfo lines from r.
func Parse(r io.Reader) ([]Mount, error) {
	var out []Mount
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		m, err := parseLine(sc.Text())
		if err != nil {
			return nil, fmt.Errorf("mountinfo line %d: %w", n, err)
		}
		out = append(out, m)
	}
	return out, sc.Err()
}

// parseLine reads "ID PARENT MAJ:MIN ROOT POINT OPTIONS [OPTIONAL...] - TYPE SOURCE SUPER".
func parseLine(line string) (Mount, error) {
	f := strings.Fields(line)
	sep := -1
	for i := 6; i < len(f); i++ {
		if f[i] == "-" {
			sep = i
			break
		}
	}
	if len(f) < 7 || sep < 0 || len(f) < sep+3 {
		return Mount{}, fmt.Errorf("want at least 10 fields with a \"-\" separator, got %q", trunc(line))
	}
	var m Mount
	var err error
	if m.ID, err = strconv.Atoi(f[0]); err != nil {
		return Mount{}, fmt.Errorf("mount id %q", f[0])
	}
	if m.ParentID, err = strconv.Atoi(f[1]); err != nil {
		return Mount{}, fmt.Errorf("parent id %q", f[1])
	}
	maj, min, ok := strings.Cut(f[2], ":")
	major, err1 := strconv.ParseUint(maj, 10, 32)
	minor, err2 := strconv.ParseUint(min, 10, 32)
	if !ok || err1 != nil || err2 != nil {
		return Mount{}, fmt.Errorf("device %q", f[2])
	}
	m.Major, m.Minor = uint32(major), uint32(minor)
	if m.Root, err = unescape(f[3]); err != nil {
		return Mount{}, err
	}
	if m.Point, err = unescape(f[4]); err != nil {
		return Mount{}, err
	}
	m.Options = f[5]
	if m.FSType, err = unescape(f[sep+1]); err != nil {
		return Mount{}, err
	}
	if m.Source, err = unescape(f[sep+2]); err != nil {
		return Mount{}, err
	}
	if len(f) > sep+3 {
		m.SuperOptions = f[sep+3]
	}
	return m, nil
}

// unescape undoes the kernel's octal escapes (\040 space, \011 tab, \012
// newline, \134 backslash) in a path or a source.
func unescape(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		if i+4 > len(s) {
			return "", fmt.Errorf("truncated escape in %q", trunc(s))
		}
		v, err := strconv.ParseUint(s[i+1:i+4], 8, 8)
		if err != nil {
			return "", fmt.Errorf("bad escape in %q", trunc(s))
		}
		b.WriteByte(byte(v))
		i += 3
	}
	return b.String(), nil
}

// At returns the mount whose mount point is exactly path (an absolute,
// clean path), the one on top when several are stacked there.
func At(mounts []Mount, path string) (Mount, bool) {
	var top Mount
	found := false
	for _, m := range mounts {
		if m.Point == path {
			top, found = m, true // later lines are mounted on top
		}
	}
	return top, found
}

func trunc(s string) string {
	if len(s) > 120 {
		return s[:120] + "..."
	}
	return s
}
