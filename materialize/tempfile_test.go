package materialize

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRemoveStaleTempsSparesLockedFiles(t *testing.T) {
	dir := t.TempDir()
	dest := filepath.Join(dir, "out.bin")
	// Left by a killed run: nobody holds its lock.
	stale := dest + tempMarker + "0123456789abcdef"
	if err := os.WriteFile(stale, []byte("partial"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Another file with a similar name that is not ours.
	other := filepath.Join(dir, "out.bin.keep")
	if err := os.WriteFile(other, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	live, err := createTemp(dest)
	if err != nil {
		t.Fatal(err)
	}
	defer live.discard(false)

	if n := removeStaleTemps(dest); n != 1 {
		t.Fatalf("removed %d files, want 1", n)
	}
	if _, err := os.Stat(stale); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("stale temp file still there: %v", err)
	}
	if !sameFile(live.File, live.path) {
		t.Fatal("a live temp file was removed")
	}
	if _, err := os.Stat(other); err != nil {
		t.Fatalf("unrelated file removed: %v", err)
	}
	live.discard(false)
	if _, err := os.Stat(live.path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("discard left %s", live.path)
	}
}

func TestRenameIntoNoClobber(t *testing.T) {
	dir := t.TempDir()
	dest := filepath.Join(dir, "dest")
	tmp := filepath.Join(dir, "tmp")
	os.WriteFile(tmp, []byte("new"), 0o600)
	os.WriteFile(dest, []byte("old"), 0o600)
	if err := renameInto(tmp, dest, true); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("renameInto over an existing file with noClobber: %v", err)
	}
	if b, _ := os.ReadFile(dest); string(b) != "old" {
		t.Fatalf("dest changed to %q", b)
	}
	if err := renameInto(tmp, dest, false); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(dest); string(b) != "new" {
		t.Fatalf("dest = %q after replace", b)
	}
	if _, err := os.Stat(tmp); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("tmp still exists after rename")
	}
}

func TestCopyFileCopiesExactly(t *testing.T) {
	dir := t.TempDir()
	want := bytes.Repeat([]byte("0123456789abcdef"), 300001)
	srcPath := filepath.Join(dir, "src")
	os.WriteFile(srcPath, want, 0o600)
	src, _ := os.Open(srcPath)
	defer src.Close()
	dst, err := os.Create(filepath.Join(dir, "dst"))
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	if err := copyFile(context.Background(), dst, src, int64(len(want))); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(dst.Name())
	if !bytes.Equal(got, want) {
		t.Fatalf("copy differs: %d bytes, want %d", len(got), len(want))
	}
	// The user-space path, for filesystems without copy_file_range.
	dst2, _ := os.Create(filepath.Join(dir, "dst2"))
	defer dst2.Close()
	if err := copyUserSpace(context.Background(), dst2, src, 0, int64(len(want))); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(dst2.Name()); !bytes.Equal(got, want) {
		t.Fatal("user-space copy differs")
	}
}

func TestNewFileModeFollowsUmask(t *testing.T) {
	m := newFileMode()
	if m&^0o666 != 0 || m&0o600 != 0o600 {
		t.Fatalf("newFileMode = %v", m)
	}
	if !strings.HasPrefix(m.String(), "-rw") {
		t.Fatalf("owner cannot read and write: %v", m)
	}
}
