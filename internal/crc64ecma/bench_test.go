package crc64ecma

import (
	"fmt"
	"hash/crc64"
	"testing"
)

var benchSizes = []int{16, 64, 256, 1 << 10, 4 << 10, 64 << 10, 1 << 20}

func benchName(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}

// Report GB/s with: go test -bench . -benchtime 2s ./rangefetch/crc64ecma
// (MB/s in the output is 10^6 bytes per second).
func BenchmarkUpdate(b *testing.B) {
	for _, n := range benchSizes {
		p := make([]byte, n)
		b.Run(benchName(n), func(b *testing.B) {
			b.SetBytes(int64(n))
			for b.Loop() {
				Update(0, p)
			}
		})
	}
}

func BenchmarkHashCRC64(b *testing.B) {
	for _, n := range benchSizes {
		p := make([]byte, n)
		b.Run(benchName(n), func(b *testing.B) {
			b.SetBytes(int64(n))
			for b.Loop() {
				crc64.Update(0, table, p)
			}
		})
	}
}
