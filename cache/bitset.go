package cache

import "math/bits"

// bitset is a fixed-size set of block numbers.
type bitset []uint64

func newBitset(n int64) bitset { return make(bitset, (n+63)/64) }

func (s bitset) has(i int64) bool { return s[i/64]&(1<<(uint64(i)%64)) != 0 }
func (s bitset) set(i int64)      { s[i/64] |= 1 << (uint64(i) % 64) }
func (s bitset) clear(i int64)    { s[i/64] &^= 1 << (uint64(i) % 64) }

func (s bitset) count() int64 {
	var n int
	for _, w := range s {
		n += bits.OnesCount64(w)
	}
	return int64(n)
}

func (s bitset) reset() {
	for i := range s {
		s[i] = 0
	}
}
