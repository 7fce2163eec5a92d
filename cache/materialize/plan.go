package materialize

import "github.com/ossmount/ossmount/rangefetch"

// planParts cuts the missing ranges of an object into the requests that
// workers send. Each part is a run of consecutive missing blocks of at most
// partSize bytes (rounded up to whole blocks, so that no block is shared by
// two parts and fetched twice), except that a small object's missing
// ranges are not cut at all: one GET is cheaper than several when the
// transfer is short next to the round trip.
func planParts(missing []rangefetch.Range, size, partSize, blockSize, multigetThreshold int64) []rangefetch.Range {
	if size < multigetThreshold {
		return append([]rangefetch.Range(nil), missing...)
	}
	if blockSize > 0 && partSize%blockSize != 0 {
		partSize += blockSize - partSize%blockSize
	}
	var parts []rangefetch.Range
	for _, m := range missing {
		parts = append(parts, rangefetch.SplitRanges(m.Off, m.Len, partSize)...)
	}
	return parts
}

// total returns the bytes the ranges cover.
func total(rs []rangefetch.Range) int64 {
	var n int64
	for _, r := range rs {
		n += r.Len
	}
	return n
}
