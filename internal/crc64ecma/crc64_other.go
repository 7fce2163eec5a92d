//go:build !amd64 || purego

package crc64ecma

// useCLMUL is a variable so that tests can switch paths on every platform.
var useCLMUL = false

func updateCLMUL(reg uint64, p []byte, k *foldConstants) uint64 {
	panic("crc64ecma: no carry-less multiplication on this platform")
}
