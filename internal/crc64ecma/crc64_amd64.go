//go:build !purego

package crc64ecma

import "golang.org/x/sys/cpu"

// useCLMUL: the CPU has PCLMULQDQ, and SSE4.1 for PEXTRQ.
var useCLMUL = cpu.X86.HasPCLMULQDQ && cpu.X86.HasSSE41

// updateCLMUL extends the raw (uninverted) register reg with p, whose
// length is a multiple of 16 and at least 64 (crc64_amd64.s).
//
//go:noescape
func updateCLMUL(reg uint64, p []byte, k *foldConstants) uint64
