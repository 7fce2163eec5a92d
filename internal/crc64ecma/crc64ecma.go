// Package crc64ecma computes CRC-64/ECMA in the reflected form that OSS
// reports in x-oss-hash-crc64ecma and that hash/crc64 computes with the
// crc64.ECMA table (CRC-64/XZ), several times faster than hash/crc64 on
// CPUs with carry-less multiplication.
//
// On amd64 with PCLMULQDQ and SSE4.1, inputs of at least minFold bytes are
// folded 64 bytes at a time with carry-less multiplication and reduced with
// Barrett's method (the method of Intel's "Fast CRC Computation for Generic
// Polynomials Using PCLMULQDQ", reflected variant; see constants.go for the
// arithmetic). Everything else goes through hash/crc64.
package crc64ecma

import "hash/crc64"

var table = crc64.MakeTable(crc64.ECMA)

// minFold is the shortest input given to the fold: it loads four 16-byte
// lanes at once. Below that hash/crc64's tables are as fast anyway.
const minFold = 64

// Update returns the CRC of the data whose CRC is crc followed by p, exactly
// as crc64.Update(crc, crc64.MakeTable(crc64.ECMA), p). Start with crc = 0.
func Update(crc uint64, p []byte) uint64 {
	if useCLMUL && len(p) >= minFold {
		n := len(p) &^ 15
		// The assembly works on the raw register, which hash/crc64 keeps
		// inverted outside Update.
		crc = ^updateCLMUL(^crc, p[:n], &constants)
		p = p[n:]
	}
	return crc64.Update(crc, table, p)
}

// Checksum returns the CRC of p, as OSS reports it for an object p.
func Checksum(p []byte) uint64 { return Update(0, p) }
