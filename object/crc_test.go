package object

import (
	"hash/crc64"
	"math/rand/v2"
	"testing"
)

// crcTable is hash/crc64's CRC-64/ECMA, the reference CRC64 must match.
var crcTable = crc64.MakeTable(crc64.ECMA)

// CRC64 agrees with hash/crc64 for every length around the fast
// path's boundaries, at every alignment, from any starting CRC, and when a buffer
// is checksummed in pieces.
func TestCRC64MatchesHashCRC64(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	buf := make([]byte, 1<<16+64)
	for i := range buf {
		buf[i] = byte(rng.Uint32())
	}
	lengths := []int{0, 1, 7, 8, 15, 16, 17, 63, 64, 65, 127, 128, 129, 255, 256, 1000, 4095, 4096, 1 << 16}
	for i := 0; i < 200; i++ {
		lengths = append(lengths, rng.IntN(1<<16))
	}
	for _, n := range lengths {
		for _, align := range []int{0, 1, 3, 8, 15, 33} {
			p := buf[align : align+n]
			init := rng.Uint64()
			if got, want := CRC64(p, init), crc64.Update(init, crcTable, p); got != want {
				t.Fatalf("len %d align %d: CRC64 %#x, hash/crc64 %#x", n, align, got, want)
			}
		}
		p := buf[:n]
		cut := 0
		if n > 0 {
			cut = rng.IntN(n + 1)
		}
		if got, want := CRC64(p[cut:], CRC64(p[:cut], 0)), crc64.Checksum(p, crcTable); got != want {
			t.Fatalf("len %d in two pieces at %d: %#x, want %#x", n, cut, got, want)
		}
	}
}

func BenchmarkCRC64(b *testing.B) {
	p := make([]byte, 1<<20)
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		CRC64(p, 0)
	}
}

func BenchmarkHashCRC64(b *testing.B) {
	p := make([]byte, 1<<20)
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		crc64.Update(0, crcTable, p)
	}
}

func TestCRC64Combines(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, 100_003)
	for i := range data {
		data[i] = byte(rng.UintN(256))
	}
	whole := crc64.Checksum(data, crc64.MakeTable(crc64.ECMA))
	if got := CRC64(data, 0); got != whole {
		t.Fatalf("CRC64 = %d, want %d", got, whole)
	}
	for _, cut := range []int{0, 1, 7, 4096, 50_000, len(data) - 1, len(data)} {
		a, b := data[:cut], data[cut:]
		got := CRC64Combine(CRC64(a, 0), CRC64(b, 0), int64(len(b)))
		if got != whole {
			t.Errorf("combine at %d = %d, want %d", cut, got, whole)
		}
	}
	// Incremental form.
	if got := CRC64(data[10:], CRC64(data[:10], 0)); got != whole {
		t.Fatalf("incremental CRC64 = %d, want %d", got, whole)
	}
}
