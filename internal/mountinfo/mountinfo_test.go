package mountinfo

import (
	"strings"
	"testing"
)

const sample = `22 28 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
28 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
61 28 0:50 / /mnt/with\040space rw,nosuid,nodev,relatime shared:30 - fuse.ossmount oss://bucket/pre\040fix rw,user_id=0,group_id=0,default_permissions
62 28 0:51 / /tmp/t rw - tmpfs tmpfs rw
63 62 0:52 / /tmp/t rw,relatime - fuse.ossmount oss://b rw,user_id=0,group_id=0
`

func TestParse(t *testing.T) {
	ms, err := Parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 5 {
		t.Fatalf("%d mounts, want 5", len(ms))
	}
	m := ms[2]
	if m.ID != 61 || m.ParentID != 28 || m.Major != 0 || m.Minor != 50 || m.Root != "/" ||
		m.Point != "/mnt/with space" || m.FSType != "fuse.ossmount" || m.Source != "oss://bucket/pre fix" ||
		m.Options != "rw,nosuid,nodev,relatime" || !strings.HasPrefix(m.SuperOptions, "rw,user_id=0") {
		t.Errorf("line 3 parsed as %+v", m)
	}
	// Stacked mounts: the one mounted last is on top.
	top, ok := At(ms, "/tmp/t")
	if !ok || top.FSType != "fuse.ossmount" || top.ID != 63 {
		t.Errorf("At(/tmp/t) = %+v, %v; want the fuse.ossmount mount on top", top, ok)
	}
	if _, ok := At(ms, "/tmp"); ok {
		t.Error("At(/tmp) found a mount; only /tmp/t is a mount point")
	}
}

func TestParseRefusesMalformedLines(t *testing.T) {
	for _, line := range []string{
		"22 28 0:21 / /proc rw shared:12 proc proc rw", // no separator
		"x 28 0:21 / /proc rw - proc proc rw",
		"22 28 021 / /proc rw - proc proc rw",
		"22 28 0:21 / /pr\\04 rw - proc proc rw",
		"22 28 0:21 / /pr\\999c rw - proc proc rw",
		"22 28 0:21 / /proc rw -",
	} {
		if ms, err := Parse(strings.NewReader(line + "\n")); err == nil {
			t.Errorf("Parse(%q) = %+v, want an error", line, ms)
		}
	}
}

func TestReadOwnMounts(t *testing.T) {
	ms, err := Read()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := At(ms, "/"); !ok {
		t.Errorf("no mount at / among %d mounts", len(ms))
	}
}

func FuzzParse(f *testing.F) {
	for _, l := range strings.Split(sample, "\n") {
		f.Add(l)
	}
	f.Fuzz(func(t *testing.T, line string) {
		ms, err := Parse(strings.NewReader(line))
		if err != nil {
			return
		}
		for _, m := range ms {
			if m.FSType == "" || m.Point == "" {
				t.Fatalf("parsed %q into %+v with an empty type or mount point", line, m)
			}
		}
	})
}
