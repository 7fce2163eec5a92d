package crc64ecma

import (
	"hash/crc64"
	"testing"

	"golang.org/x/sys/unix"
)

// Data that ends right before an unreadable page: reading one byte past
// the slice would fault.
func TestNoReadPastEnd(t *testing.T) {
	page := unix.Getpagesize()
	mem, err := unix.Mmap(-1, 0, 2*page, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		t.Skipf("mmap: %v", err)
	}
	defer unix.Munmap(mem)
	if err := unix.Mprotect(mem[page:], unix.PROT_NONE); err != nil {
		t.Skipf("mprotect: %v", err)
	}
	for i := range page {
		mem[i] = byte(i * 31)
	}
	for n := 0; n <= 300; n++ {
		p := mem[page-n : page]
		if got, want := Update(7, p), crc64.Update(7, table, p); got != want {
			t.Fatalf("len %d: %#x, hash/crc64 %#x", n, got, want)
		}
	}
}
