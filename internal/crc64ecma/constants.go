package crc64ecma

import "math/bits"

// The arithmetic of the fold, in the reflected convention of hash/crc64.
//
// P = x^64 + P' is the ECMA-182 polynomial, P' = 0x42F0E1EBA9EA3693 with x^0
// in bit 0. A polynomial A of degree < 64 is held bit-reversed: bit i of
// refl(A) is the coefficient of x^(63-i), so the CRC register is refl of
// (data·x^64 mod P). A 16-byte chunk loaded little-endian is V = H·x^64 + L,
// bit k the coefficient of x^(127-k) (the stream's first bit is its highest
// power): refl(H) in the low quadword, refl(L) in the high one.
//
// PCLMULQDQ of refl(A) and refl(B) puts the coefficient of x^(126-k) of A·B
// in bit k; read as a chunk it is A·B·x. Hence:
//
//   - Moving a chunk D bits down the stream multiplies it by x^D, and
//     V·x^D ≡ H·(x^(D+63) mod P)·x + L·(x^(D-1) mod P)·x (mod P): two
//     multiplications by the pair fold(D) = {refl(x^(D+63) mod P),
//     refl(x^(D-1) mod P)}, XORed onto the chunk D bits on, keep a 128-bit
//     state congruent to all the data folded into it.
//   - The register before the data is XORed into the first 8 bytes: the
//     CRC of S0 then M is (S0·x^(8n-64) + M)·x^64 mod P.
//   - The last chunk V leaves the register V·x^64 mod P. First
//     T = H·(x^127 mod P)·x + L·x^64 ≡ V·x^64 is brought to 128 bits, one
//     multiplication plus L shifted into the low quadword; T = Th·x^64 + Tl.
//   - Barrett: T mod P = Tl + low64(q·P), q = floor(Th·x^64 / P), and
//     q = floor(Th·mu / x^64) with mu = floor(x^128/P). Since Th·(mu mod x)
//     has degree < 64, q = floor(Th·C / x^63) with C = floor(x^127/P), which
//     is exactly the low quadword of PCLMULQDQ(refl(Th), refl(C)).
//   - With R = (P - 1)/x (degree 63), q·P = q·R·x + q, and low64(q·R·x) is
//     exactly the high quadword of PCLMULQDQ(refl(q), refl(R)); so the
//     register is that quadword XOR refl(q) XOR refl(Tl).

// polyLow is P' = P - x^64, x^0 in bit 0.
const polyLow = 0x42F0E1EBA9EA3693

// foldConstants are the multipliers the assembly loads, in the order of
// its offsets (crc64_amd64.s): each pair is one 16-byte load whose low
// quadword multiplies a chunk's low quadword and high multiplies high.
type foldConstants struct {
	fold512 [2]uint64 // move a lane 4 chunks on: x^575, x^511
	fold128 [2]uint64 // move the state 1 chunk on: x^191, x^127
	fold64  [2]uint64 // bring the last chunk to Th, Tl: x^127 (high unused)
	barrett [2]uint64 // refl(floor(x^127/P)), refl((P-1)/x)
}

var constants = computeConstants()

func computeConstants() foldConstants {
	return foldConstants{
		fold512: [2]uint64{xPowModP(512 + 63), xPowModP(512 - 1)},
		fold128: [2]uint64{xPowModP(128 + 63), xPowModP(128 - 1)},
		fold64:  [2]uint64{xPowModP(64 + 63), 0},
		barrett: [2]uint64{
			bits.Reverse64(x127DivP()),
			bits.Reverse64(1<<63 | polyLow>>1),
		},
	}
}

// xPowModP returns refl(x^n mod P).
func xPowModP(n int) uint64 {
	v := uint64(1)
	for range n {
		carry := v >> 63
		v <<= 1
		if carry != 0 {
			v ^= polyLow
		}
	}
	return bits.Reverse64(v)
}

// x127DivP returns floor(x^127 / P) (degree 63, x^0 in bit 0) by long
// division. Only the remainder's coefficients of x^64..x^127 decide the
// quotient, so rem holds just those (x^(64+j) in bit j).
func x127DivP() uint64 {
	var q uint64
	rem := uint64(1) << 63 // x^127
	for d := 63; d >= 0; d-- {
		if rem>>d&1 != 0 {
			// Subtract P·x^d = x^(64+d) + P'·x^d.
			q |= 1 << d
			rem ^= 1 << d
			if d > 0 {
				rem ^= polyLow >> (64 - d)
			}
		}
	}
	return q
}
