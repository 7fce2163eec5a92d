package materialize

import (
	"context"
	"errors"
	"fmt"

	"github.com/ossmount/ossmount/rangefetch"
)

// Error kinds of a run, for errors.Is. Failures that come from OSS keep
// rangefetch's kinds (rangefetch.ErrNotFound, ErrAccessDenied, ...).
var (
	// ErrInvalidRequest: a field of the Request is out of range.
	ErrInvalidRequest = errors.New("invalid request")
	// ErrIntegrity: the assembled object does not match its CRC64, even
	// after the blocks were dropped and fetched again.
	ErrIntegrity = errors.New("integrity check failed")
	// ErrChanged: the object was replaced during the run, twice.
	ErrChanged = errors.New("object changed during the run")
	// ErrLocalIO: a local file could not be read, written or renamed.
	ErrLocalIO = errors.New("local I/O error")
	// ErrExists: NoClobber was set and Dest exists.
	ErrExists = errors.New("destination exists")
	// ErrOwnerGone: the process owning the cache stopped before it
	// answered a delegated request.
	ErrOwnerGone = errors.New("the process owning the cache stopped before finishing")
)

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidRequest, fmt.Sprintf(format, args...))
}

func localIOf(format string, args ...any) error {
	return fmt.Errorf("%w: %w", ErrLocalIO, fmt.Errorf(format, args...))
}

// wireKinds names the kinds that travel over the owner socket, so that a
// delegated run fails exactly as a local one would.
var wireKinds = []struct {
	name string
	kind error
}{
	{"invalid", ErrInvalidRequest},
	{"integrity", ErrIntegrity},
	{"changed", ErrChanged},
	{"local_io", ErrLocalIO},
	{"exists", ErrExists},
	{"not_found", rangefetch.ErrNotFound},
	{"no_bucket", rangefetch.ErrNoSuchBucket},
	{"denied", rangefetch.ErrAccessDenied},
	{"archived", rangefetch.ErrArchived},
	{"object_changed", rangefetch.ErrObjectChanged},
	{"canceled", context.Canceled},
}

// kindName returns the wire name of err's kind, "" for other errors.
func kindName(err error) string {
	for _, k := range wireKinds {
		if errors.Is(err, k.kind) {
			return k.name
		}
	}
	return ""
}

// remoteError is a failure reported by the cache owner: its text is the
// owner's message and errors.Is matches the kind it named.
type remoteError struct {
	msg  string
	kind error
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.kind }

func errorFromWire(kind, msg string) error {
	for _, k := range wireKinds {
		if k.name == kind {
			return &remoteError{msg: msg, kind: k.kind}
		}
	}
	return &remoteError{msg: msg}
}
