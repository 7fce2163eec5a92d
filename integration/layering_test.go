package integration

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// layers lists, for every package of the module, the ossmount packages its
// non-test code may import: the one-way flow of architecture.md
// (fs -> cache -> rangefetch; materialize -> cache -> rangefetch; only the
// command wires fs, materialize and the local server together). A new
// package must be added here, with the arrows it needs.
var layers = map[string][]string{
	"object":                           {"internal/crc64ecma"},
	"internal/crc64ecma":               {},
	"rangefetch":                       {"object"},
	"cache":                            {"object", "rangefetch"},
	"materialize":                      {"object", "cache", "rangefetch"},
	"internal/fs":                      {"object", "cache", "rangefetch", "internal/mountinfo"},
	"internal/ossserver":               {},
	"internal/ossserver/ossservertest": {"internal/ossserver"},
	"internal/mountinfo":               {},
	"internal/testutil":                {},
	"integration":                      {},
	"bench/sdkdownload":                {},
	"cmd/ossmount":                     {"object", "cache", "rangefetch", "materialize", "internal/fs", "internal/ossserver", "internal/mountinfo"},
}

const module = "github.com/ossmount/ossmount"

func goList(t *testing.T, args ...string) []string {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("the go command is not on PATH")
	}
	cmd := exec.Command("go", append([]string{"list"}, args...)...)
	cmd.Dir = ".."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %s: %v", strings.Join(args, " "), err)
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}

// No production package imports one above it in the flow, or a peer.
func TestPackagesImportOnlyBelowThem(t *testing.T) {
	for _, line := range goList(t, "-f", "{{.ImportPath}} {{join .Imports \" \"}}", "./...") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(strings.TrimPrefix(fields[0], module), "/")
		allowed, known := layers[pkg]
		if !known {
			t.Errorf("package %s is not in the layering table of layering_test.go", pkg)
			continue
		}
		for _, imp := range fields[1:] {
			dep, ours := strings.CutPrefix(imp, module+"/")
			if ours && !slices.Contains(allowed, dep) {
				t.Errorf("%s imports %s, which the flow does not allow (allowed: %v)", pkg, dep, allowed)
			}
		}
	}
}

// The shipped binary does not link package testing (test helpers live in
// packages that only tests import).
func TestBinaryDoesNotLinkTesting(t *testing.T) {
	for _, dep := range goList(t, "-deps", "./cmd/ossmount") {
		if dep == "testing" || strings.HasSuffix(dep, "/ossservertest") || strings.HasSuffix(dep, "/testutil") {
			t.Errorf("the ossmount binary links %s", dep)
		}
	}
}
