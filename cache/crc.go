package cache

import (
	"sync"

	"github.com/ossmount/ossmount/object"
)

// combineCRCs returns the CRC64 of a whole object from its block CRCs. The
// operator that shifts a CRC past one full block is built once per block
// size, so each block costs 64 XORs instead of a fresh CRC64Combine.
func combineCRCs(crcs []uint64, bs, size int64) uint64 {
	var sum uint64
	n := int64(len(crcs))
	if n == 0 {
		return 0
	}
	shift := shiftOperator(bs)
	for b := int64(0); b < n-1; b++ {
		sum = applyOperator(shift, sum) ^ crcs[b]
	}
	last := size - (n-1)*bs
	return object.CRC64Combine(sum, crcs[n-1], last)
}

var shiftOps sync.Map // block size -> *[64]uint64

// shiftOperator is the GF(2) matrix M with CRC64Combine(x, y, n) = M·x ^ y.
func shiftOperator(n int64) *[64]uint64 {
	if op, ok := shiftOps.Load(n); ok {
		return op.(*[64]uint64)
	}
	var op [64]uint64
	for i := range op {
		op[i] = object.CRC64Combine(1<<i, 0, n)
	}
	shiftOps.Store(n, &op)
	return &op
}

func applyOperator(op *[64]uint64, x uint64) uint64 {
	var sum uint64
	for i := 0; x != 0; i, x = i+1, x>>1 {
		if x&1 != 0 {
			sum ^= op[i]
		}
	}
	return sum
}
