package crc64ecma

import (
	"hash/crc64"
	"math/rand/v2"
	"testing"
)

// withPath runs f with the fast path on (when the CPU has it) and off.
func withPath(t *testing.T, f func(t *testing.T)) {
	t.Run("fast", f)
	saved := useCLMUL
	useCLMUL = false
	defer func() { useCLMUL = saved }()
	t.Run("generic", f)
}

func TestUpdateMatchesHashCRC64AllLengths(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	buf := randomBytes(rng, 4096+64)
	withPath(t, func(t *testing.T) {
		for n := 0; n <= 4096; n++ {
			off := rng.IntN(64)
			p := buf[off : off+n]
			crc := uint64(0)
			if n%2 == 1 {
				crc = rng.Uint64()
			}
			if got, want := Update(crc, p), crc64.Update(crc, table, p); got != want {
				t.Fatalf("len %d offset %d crc %#x: %#x, hash/crc64 %#x", n, off, crc, got, want)
			}
		}
	})
}

func TestUpdateEveryAlignment(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	buf := randomBytes(rng, 1<<14+64)
	for _, n := range []int{63, 64, 65, 79, 80, 127, 128, 129, 1000, 1 << 14} {
		for off := range 64 {
			p := buf[off : off+n]
			crc := rng.Uint64()
			if got, want := Update(crc, p), crc64.Update(crc, table, p); got != want {
				t.Fatalf("len %d offset %d: %#x, hash/crc64 %#x", n, off, got, want)
			}
		}
	}
}

// Chaining: the CRC of a then b, started from CRC(a), is the CRC of a||b.
func TestUpdateChains(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	buf := randomBytes(rng, 1<<16)
	for range 2000 {
		n := rng.IntN(len(buf) + 1)
		if rng.IntN(2) == 0 {
			n = rng.IntN(600)
		}
		p := buf[:n]
		cut := rng.IntN(n + 1)
		want := crc64.Checksum(p, table)
		if got := Update(Update(0, p[:cut]), p[cut:]); got != want {
			t.Fatalf("len %d cut at %d: %#x, want %#x", n, cut, got, want)
		}
		if got := Checksum(p); got != want {
			t.Fatalf("Checksum len %d: %#x, want %#x", n, got, want)
		}
	}
}

func TestUpdateLarge(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	p := randomBytes(rng, 32<<20+13)
	for _, n := range []int{1 << 20, 1<<20 + 1, 8<<20 - 7, len(p)} {
		crc := rng.Uint64()
		if got, want := Update(crc, p[:n]), crc64.Update(crc, table, p[:n]); got != want {
			t.Fatalf("len %d: %#x, hash/crc64 %#x", n, got, want)
		}
	}
}

// Known answers: CRC-64/XZ's check value, and an all-zero block.
func TestKnownAnswers(t *testing.T) {
	if got := Checksum([]byte("123456789")); got != 0x995DC9BBDF1939FA {
		t.Errorf("check value %#x, want 0x995DC9BBDF1939FA", got)
	}
	zeros := make([]byte, 4096)
	if got, want := Checksum(zeros), crc64.Checksum(zeros, table); got != want {
		t.Errorf("4096 zeros: %#x, want %#x", got, want)
	}
}

// The assembly computes exactly what the Go model of it does, register
// for register.
func TestAssemblyMatchesModel(t *testing.T) {
	if !useCLMUL {
		t.Skip("no carry-less multiplication on this machine")
	}
	rng := rand.New(rand.NewPCG(11, 12))
	for _, n := range []int{64, 80, 128, 144, 192, 208, 256, 320, 640, 4096, 4096 + 48, 4096 + 112} {
		p := randomBytes(rng, n)
		reg := rng.Uint64()
		if got, want := updateCLMUL(reg, p, &constants), updateModel(reg, p, &constants); got != want {
			t.Fatalf("n=%d: assembly %#x, model %#x", n, got, want)
		}
	}
}

func FuzzCRC64(f *testing.F) {
	f.Add([]byte("123456789"), uint64(0), uint8(0))
	f.Add(make([]byte, 64), ^uint64(0), uint8(3))
	f.Add(make([]byte, 200), uint64(0x1234), uint8(17))
	f.Fuzz(func(t *testing.T, data []byte, crc uint64, cut uint8) {
		if got, want := Update(crc, data), crc64.Update(crc, table, data); got != want {
			t.Fatalf("len %d crc %#x: %#x, hash/crc64 %#x", len(data), crc, got, want)
		}
		c := min(int(cut), len(data))
		if got, want := Update(Update(crc, data[:c]), data[c:]), crc64.Update(crc, table, data); got != want {
			t.Fatalf("len %d crc %#x cut %d: %#x, hash/crc64 %#x", len(data), crc, c, got, want)
		}
	})
}
