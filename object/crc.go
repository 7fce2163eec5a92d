package object

import (
	"github.com/aliyun/aliyun-oss-go-sdk/oss"

	"github.com/ossmount/ossmount/internal/crc64ecma"
)

// CRC64 extends crc with p, as OSS computes x-oss-hash-crc64ecma (start
// with 0): CRC-64/ECMA in Go's reflected form, exactly hash/crc64's result,
// several times faster on CPUs with carry-less multiplication (package
// crc64ecma). Every fetched byte goes through it once, so on a machine with
// few cores its speed counts.
func CRC64(p []byte, crc uint64) uint64 { return crc64ecma.Update(crc, p) }

// CRC64Combine returns the CRC of A||B given crc1 = CRC(A), crc2 = CRC(B)
// and len2 = len(B), so blocks fetched in any order can be checked against
// the whole-object CRC without rereading them. It is the SDK's own.
func CRC64Combine(crc1, crc2 uint64, len2 int64) uint64 {
	if len2 <= 0 {
		return crc1
	}
	return oss.CRC64Combine(crc1, crc2, uint64(len2))
}
