package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ossmount/ossmount/internal/mountinfo"
)

// parseMounts reads a mount table written in the kernel's format.
func parseMounts(t *testing.T, lines ...string) []mountinfo.Mount {
	t.Helper()
	m, err := mountinfo.Parse(strings.NewReader(strings.Join(lines, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// Without ossmount mounts status says so, and --json gives an empty list,
// not null.
func TestStatusWithoutMounts(t *testing.T) {
	mounts := parseMounts(t,
		"22 1 0:21 / /proc rw,nosuid - proc proc rw",
		"40 22 0:40 / /tmp rw - tmpfs tmpfs rw",
		"41 40 0:41 / /mnt/other rw - fuse.sshfs host:/ rw")
	reports := mountReports(context.Background(), mounts, time.Now())
	var text, js bytes.Buffer
	writeStatusTable(&text, reports)
	if text.String() != "no ossmount mounts\n" {
		t.Errorf("table %q, want %q", text.String(), "no ossmount mounts\n")
	}
	if err := writeStatusJSON(&js, reports); err != nil {
		t.Fatal(err)
	}
	var got struct{ Mounts []mountReport }
	if err := json.Unmarshal(js.Bytes(), &got); err != nil || got.Mounts == nil || len(got.Mounts) != 0 {
		t.Errorf("--json %q: %v, want an empty mounts list", js.String(), err)
	}
}

// A listed ossmount mount whose root does not answer as an ossmount root
// (here: a plain directory, so its attributes are missing) is reported as
// not responding, with the reason, and the command still succeeds.
func TestStatusOfAMountThatDoesNotAnswer(t *testing.T) {
	// The attributes are read by a child: this binary, as ossmount.
	t.Setenv(runMainEnv, "1")
	dir := t.TempDir()
	mounts := parseMounts(t, "50 40 0:50 / "+dir+" ro,nosuid,nodev - fuse.ossmount ossmount ro")
	reports := mountReports(context.Background(), mounts, time.Now())
	if len(reports) != 1 || reports[0].Mountpoint != dir || reports[0].State != stateNotResponding || reports[0].Reason == "" {
		t.Fatalf("reports %+v, want %s not responding, with a reason", reports, dir)
	}
	var text bytes.Buffer
	writeStatusTable(&text, reports)
	if !strings.Contains(text.String(), dir+": not responding: ") {
		t.Errorf("table does not explain the mount:\n%s", text.String())
	}
}

func TestIECBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 4 << 20: "4.0 MiB", 3 << 40: "3.0 TiB"} {
		if got := iecBytes(n); got != want {
			t.Errorf("iecBytes(%d) = %q, want %q", n, got, want)
		}
	}
}
