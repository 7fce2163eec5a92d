package materialize

import (
	"errors"
	"path/filepath"
	"testing"
)

func TestRequestDefaultsAndLimits(t *testing.T) {
	req, err := Request{Bucket: "b-1", Key: "k", Dest: "out.bin"}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if req.Threads != DefaultThreads || req.PartSize != DefaultPartSize ||
		req.MultigetThreshold != DefaultMultigetThreshold || req.Verify != VerifyCRC64 {
		t.Fatalf("defaults not applied: %+v", req)
	}
	if !filepath.IsAbs(req.Dest) {
		t.Fatalf("Dest %q not made absolute", req.Dest)
	}
	bad := []Request{
		{Key: "k", Dest: "d"},
		{Bucket: "b", Dest: "d"},
		{Bucket: "b", Key: "dir/", Dest: "d"},
		{Bucket: "b", Key: "k"},
		{Bucket: "b", Key: "k", Dest: "d", Threads: -1},
		{Bucket: "b", Key: "k", Dest: "d", Threads: MaxThreads + 1},
		{Bucket: "b", Key: "k", Dest: "d", PartSize: MinPartSize - 1},
		{Bucket: "b", Key: "k", Dest: "d", PartSize: MaxPartSize + 1},
		{Bucket: "b", Key: "k", Dest: "d", MultigetThreshold: -1},
		{Bucket: "b", Key: "k", Dest: "d", Verify: "md5"},
	}
	for _, r := range bad {
		if _, err := r.withDefaults(); !errors.Is(err, ErrInvalidRequest) {
			t.Errorf("%+v: err = %v, want ErrInvalidRequest", r, err)
		}
	}
}
