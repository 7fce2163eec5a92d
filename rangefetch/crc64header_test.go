package rangefetch_test

import (
	"context"
	"testing"

	"github.com/ossmount/ossmount/internal/ossserver"
	"github.com/ossmount/ossmount/internal/testutil"
	"github.com/ossmount/ossmount/object"
)

// crcWriter is an objectBuffer that also takes the object's CRC64 from the
// GET's headers.
type crcWriter struct {
	*objectBuffer
	crcs []uint64
}

func (w *crcWriter) ObjectCRC64(crc uint64) { w.crcs = append(w.crcs, crc) }

// A ranged GET reports the whole object's CRC64 (not the range's) to a
// writer that asks for it, and the one the server sends, even a wrong one.
func TestReadRangeReportsObjectCRC64(t *testing.T) {
	e := newEnv(t, nil)
	data := testutil.RandomBytes(11, 300_000)
	e.store.Put(testBucket, "obj", data)
	ctx := context.Background()
	info, err := e.client.Stat(ctx, testBucket, "obj")
	if err != nil {
		t.Fatal(err)
	}
	w := &crcWriter{objectBuffer: newObjectBuffer(info.Size)}
	if err := e.client.ReadRange(ctx, info.Ref(), 1000, 5000, w); err != nil {
		t.Fatal(err)
	}
	if want := object.CRC64(data, 0); len(w.crcs) != 1 || w.crcs[0] != want {
		t.Fatalf("reported CRC64s %v, want [%d]", w.crcs, want)
	}

	e.srv.SetFaults(ossserver.Faults{WrongCRC: true})
	w.crcs = nil
	if err := e.client.ReadRange(ctx, info.Ref(), 0, 10, w); err != nil {
		t.Fatal(err)
	}
	if len(w.crcs) != 1 || w.crcs[0] == object.CRC64(data, 0) {
		t.Fatalf("with a wrong CRC header: reported %v", w.crcs)
	}
}
