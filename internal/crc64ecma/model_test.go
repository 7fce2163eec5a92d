package crc64ecma

import (
	"encoding/binary"
	"hash/crc64"
	"math/rand/v2"
	"testing"
)

// clmul is the carry-less product of a and b, as PCLMULQDQ computes it.
func clmul(a, b uint64) (lo, hi uint64) {
	for i := range 64 {
		if b>>i&1 != 0 {
			lo ^= a << i
			if i > 0 {
				hi ^= a >> (64 - i)
			}
		}
	}
	return lo, hi
}

type xmm struct{ lo, hi uint64 }

func load(p []byte) xmm {
	return xmm{binary.LittleEndian.Uint64(p), binary.LittleEndian.Uint64(p[8:])}
}

func (a xmm) xor(b xmm) xmm { return xmm{a.lo ^ b.lo, a.hi ^ b.hi} }

// fold is PCLMULQDQ $0x00 XOR PCLMULQDQ $0x11 of v by the pair k.
func fold(v xmm, k [2]uint64) xmm {
	aLo, aHi := clmul(v.lo, k[0])
	bLo, bHi := clmul(v.hi, k[1])
	return xmm{aLo ^ bLo, aHi ^ bHi}
}

// updateModel is crc64_amd64.s step for step in plain Go: the executable
// specification of the assembly, and a check of the method and constants
// on any machine.
func updateModel(reg uint64, p []byte, k *foldConstants) uint64 {
	var lanes [4]xmm
	for i := range lanes {
		lanes[i] = load(p[16*i:])
	}
	lanes[0].lo ^= reg
	for p = p[64:]; len(p) >= 64; p = p[64:] {
		for i := range lanes {
			lanes[i] = fold(lanes[i], k.fold512).xor(load(p[16*i:]))
		}
	}
	v := lanes[0]
	for i := 1; i < 4; i++ {
		v = fold(v, k.fold128).xor(lanes[i])
	}
	for ; len(p) >= 16; p = p[16:] {
		v = fold(v, k.fold128).xor(load(p))
	}
	// T = clmul(v.lo, x^127) ^ (v >> 64 bits).
	tLo, tHi := clmul(v.lo, k.fold64[0])
	tLo ^= v.hi
	// Barrett.
	q, _ := clmul(tLo, k.barrett[0])
	_, r := clmul(q, k.barrett[1])
	return r ^ q ^ tHi
}

func randomBytes(rng *rand.Rand, n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(rng.Uint32())
	}
	return p
}

func TestModelMatchesHashCRC64(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{64, 80, 96, 112, 128, 144, 192, 240, 256, 64 * 7, 1008, 4096} {
		p := randomBytes(rng, n)
		for _, crc := range []uint64{0, 1, ^uint64(0), rng.Uint64()} {
			want := crc64.Update(crc, table, p)
			if got := ^updateModel(^crc, p, &constants); got != want {
				t.Fatalf("n=%d crc=%#x: model %#x, hash/crc64 %#x", n, crc, got, want)
			}
		}
	}
}

// The constants, checked independently of the fold: x^n mod P through
// hash/crc64 itself, the Barrett quotient by multiplying back.
func TestConstants(t *testing.T) {
	// A one bit followed by zero bits, L bytes in all, is x^(8L-1); with a
	// zero raw register its CRC register is x^(8L-1)·x^64 mod P. hash/crc64
	// inverts the register on the way in and out, hence the ^.
	xPow := func(n int) uint64 {
		if (n-63)%8 != 0 {
			t.Fatalf("x^%d is not a whole number of bytes", n)
		}
		p := make([]byte, (n-63)/8)
		p[0] = 1 // reflected: bit 0 of the first byte is the highest power
		return ^crc64.Update(^uint64(0), table, p)
	}
	for _, n := range []int{512 + 63, 512 - 1, 128 + 63, 128 - 1, 64 + 63} {
		if got, want := xPowModP(n), xPow(n); got != want {
			t.Errorf("xPowModP(%d) = %#x, via hash/crc64 %#x", n, got, want)
		}
	}
	k := computeConstants()
	if k.fold512 != [2]uint64{xPow(575), xPow(511)} || k.fold128 != [2]uint64{xPow(191), xPow(127)} ||
		k.fold64[0] != xPow(127) {
		t.Errorf("fold constants %#x", k)
	}

	// C = floor(x^127 / P): C·P = x^127 + (remainder of degree < 64).
	c := x127DivP()
	_, hi := clmul(c, polyLow) // C·P' (its low word is the remainder)
	hi ^= c                    // + C·x^64
	if hi != 1<<63 {
		t.Errorf("floor(x^127/P)·P = %#x·x^64 + ..., want x^127 + (degree < 64)", hi)
	}

	// The same values Intel's ISA-L uses for crc64_ecma_refl (rk7, rk8).
	if constants.barrett != [2]uint64{0x9c3e466c172963d5, 0x92d8af2baf0e1e85} {
		t.Errorf("barrett constants %#x", constants.barrett)
	}
}
