package rangefetch

import "github.com/ossmount/ossmount/rangefetch/crc64ecma"

// CRC64 extends crc with p, as OSS computes x-oss-hash-crc64ecma (start
// with 0): CRC-64/ECMA in Go's reflected form, exactly hash/crc64's result,
// several times faster on CPUs with carry-less multiplication (package
// crc64ecma). Every fetched byte goes through it once, so on a machine with
// few cores its speed counts.
func CRC64(p []byte, crc uint64) uint64 { return crc64ecma.Update(crc, p) }

// CRC64Combine returns the CRC of A||B given crc1 = CRC(A), crc2 = CRC(B) and
// len2 = len(B), so blocks fetched in any order can be checked against the
// whole-object CRC without rereading them (zlib's crc32_combine, 64-bit).
func CRC64Combine(crc1, crc2 uint64, len2 int64) uint64 {
	if len2 <= 0 {
		return crc1
	}
	var even, odd [64]uint64
	// odd: operator for one zero bit.
	odd[0] = 0xC96C5795D7870F42 // reflected ECMA polynomial
	row := uint64(1)
	for i := 1; i < 64; i++ {
		odd[i] = row
		row <<= 1
	}
	gf2Square(even[:], odd[:]) // two zero bits
	gf2Square(odd[:], even[:]) // four zero bits
	// CRC-64/XZ pre- and post-inverts; the combine works on raw registers and
	// the inversions cancel as in zlib.
	for {
		gf2Square(even[:], odd[:])
		if len2&1 != 0 {
			crc1 = gf2Times(even[:], crc1)
		}
		len2 >>= 1
		if len2 == 0 {
			break
		}
		gf2Square(odd[:], even[:])
		if len2&1 != 0 {
			crc1 = gf2Times(odd[:], crc1)
		}
		len2 >>= 1
		if len2 == 0 {
			break
		}
	}
	return crc1 ^ crc2
}

func gf2Times(mat []uint64, vec uint64) uint64 {
	var sum uint64
	for i := 0; vec != 0; i, vec = i+1, vec>>1 {
		if vec&1 != 0 {
			sum ^= mat[i]
		}
	}
	return sum
}

func gf2Square(square, mat []uint64) {
	for n := 0; n < 64; n++ {
		square[n] = gf2Times(mat, mat[n])
	}
}
