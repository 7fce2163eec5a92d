package materialize

import (
	"errors"
	"fmt"
	"testing"

	"github.com/ossmount/ossmount/rangefetch"
)

// A delegated run must fail with the same kind as a local one, so that the
// command exits with the same code either way.
func TestErrorKindsSurviveTheWire(t *testing.T) {
	for _, k := range wireKinds {
		local := fmt.Errorf("context: %w", k.kind)
		remote := errorFromWire(kindName(local), local.Error())
		if !errors.Is(remote, k.kind) {
			t.Errorf("%s: remote error %v does not match its kind", k.name, remote)
		}
		if remote.Error() != local.Error() {
			t.Errorf("%s: message changed: %q -> %q", k.name, local, remote)
		}
	}
	osserr := &rangefetch.Error{Op: "HEAD", Bucket: "b", Key: "k", StatusCode: 404, Kind: rangefetch.ErrNotFound}
	if got := errorFromWire(kindName(osserr), osserr.Error()); !errors.Is(got, rangefetch.ErrNotFound) {
		t.Errorf("a rangefetch.Error lost its kind: %v", got)
	}
	if got := errorFromWire(kindName(errors.New("boom")), "boom"); got.Error() != "boom" {
		t.Errorf("plain error: %v", got)
	}
}
