package main

import (
	"strconv"
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	good := []struct {
		in   string
		want int64
	}{
		{"0", 0},
		{"4096", 4096},
		{" 4096 ", 4096},
		{"4096B", 4096},
		{"1K", 1 << 10},
		{"1k", 1 << 10},
		{"1KiB", 1 << 10},
		{"1kib", 1 << 10},
		{"1KB", 1000},
		{"100KB", 100_000},
		{"8MiB", 8 << 20},
		{"8M", 8 << 20},
		{"8MB", 8_000_000},
		{"1.5GiB", 3 << 29},
		{"1.5G", 3 << 29},
		{"5GB", 5_000_000_000},
		{"5 GB", 5_000_000_000},
		{"2TiB", 2 << 40},
		{"2TB", 2_000_000_000_000},
		{"0.5", 0},      // a fraction of a byte is dropped
		{"1.9B", 1},     // likewise
		{"0.001KiB", 1}, // 1.024 bytes
		{"007MiB", 7 << 20},
		{"4611686018427387904", 1 << 62},
		{"4194304TiB", 1 << 62},
	}
	for _, c := range good {
		got, err := parseSize(c.in)
		if err != nil || got != c.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", c.in, got, err, c.want)
		}
	}
	bad := []struct{ in, want string }{
		{"", "not a size"},
		{"   ", "not a size"},
		{"MiB", "not a size"},
		{"-1", "not a size"},
		{"+1", "not a size"},
		{"-1KiB", "not a size"},
		{"1e6", "not a size"},
		{"0x10", "not a size"},
		{"NaN", "not a size"},
		{"Inf", "not a size"},
		{"infinity", "not a size"},
		{"1.2.3", "not a size"},
		{".5K", "not a size"},
		{"1_000", "not a size"},
		{"5XB", "not a size"},
		{"5 G B", "not a size"},
		{"5GiBs", "not a size"},
		{"1,5G", "not a size"},
		{"4611686018427387905", "too large"},
		{"4194305TiB", "too large"},
		{"4194304.5TiB", "too large"},
		{"99999999999999999999", "too large"},
		{"99999999999999999999999999KB", "too large"},
	}
	for _, c := range bad {
		got, err := parseSize(c.in)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), strconv.Quote(c.in)) {
			t.Errorf("parseSize(%q) = %d, %v; want an error quoting the input and saying %q", c.in, got, err, c.want)
		}
	}
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"0", "4096", "1.5GiB", "8 MB", "1e3", "NaN", "-1", "4611686018427387904", "0.999K", "1.kb"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseSize(s)
		if err != nil {
			if n != 0 || strings.Contains(err.Error(), "\n") {
				t.Fatalf("parseSize(%q) = %d, %q", s, n, err)
			}
			return
		}
		if n < 0 || n > maxSize {
			t.Fatalf("parseSize(%q) = %d, outside [0, %d]", s, n, int64(maxSize))
		}
		trimmed := strings.TrimSpace(s)
		if trimmed == "" || trimmed[0] < '0' || trimmed[0] > '9' {
			t.Fatalf("parseSize(%q) = %d: accepted a size not starting with a digit", s, n)
		}
		// Plain digits mean bytes, exactly.
		if v, perr := strconv.ParseInt(trimmed, 10, 64); perr == nil && v != n {
			t.Fatalf("parseSize(%q) = %d, want %d", s, n, v)
		}
		// A unit scales the number: 1 KiB is 1024 times 1 byte, up to the
		// fraction of a byte that is dropped.
		if k, kerr := parseSize(trimmed + "KiB"); kerr == nil && !strings.ContainsAny(trimmed, "KkMmGgTtBb") {
			if k < n*1024 || k >= (n+1)*1024 {
				t.Fatalf("parseSize(%q) = %d but parseSize(%q) = %d", s, n, trimmed+"KiB", k)
			}
		}
	})
}

func TestParseBandwidth(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "32MiB": 32 << 20, "32MiB/s": 32 << 20, "500KB/s": 500_000, " 1.5GiB ": 3 << 29} {
		if got, err := parseBandwidth(in); err != nil || got != want {
			t.Errorf("parseBandwidth(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"fast", "/s", "32MiB/h", "-1MiB/s"} {
		if got, err := parseBandwidth(in); err == nil {
			t.Errorf("parseBandwidth(%q) = %d, want an error", in, got)
		}
	}
}

func TestIsLoopbackAddr(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:9000": true, "127.1.2.3:0": true, "[::1]:9000": true, "localhost:80": true,
		"0.0.0.0:9000": false, ":9000": false, "[::]:9000": false, "10.0.0.1:9000": false, "example.com:9000": false,
	} {
		got, err := isLoopbackAddr(addr)
		if err != nil || got != want {
			t.Errorf("isLoopbackAddr(%q) = %v, %v; want %v", addr, got, err, want)
		}
	}
	if _, err := isLoopbackAddr("127.0.0.1"); err == nil {
		t.Error("an address without a port was accepted")
	}
}
