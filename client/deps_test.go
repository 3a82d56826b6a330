package client_test

import (
	"errors"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// serverDeps are import path prefixes the device side must never link: they belong to the
// server (the Redis nonce store, the JWT verifier, the router, the handler) or to its tests.
var serverDeps = []string{
	"github.com/redis/go-redis",
	"github.com/alicebob/miniredis",
	"github.com/go-chi/chi",
	"github.com/golang-jwt/jwt",
	"github.com/ratatoskr-proto/ratatoskr/ratatoskrhttp",
}

// TestNoServerDeps fails when package client depends, directly or not, on a server dependency
// (device code must not pull in server dependencies). It reports the import chain
// that brings each one in.
func TestNoServerDeps(t *testing.T) {
	t.Parallel()
	gobin := goCommand(t)
	const pkg = "github.com/ratatoskr-proto/ratatoskr/client"
	cmd := exec.Command(gobin, "list", "-deps", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, pkg)
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := errors.AsType[*exec.ExitError](err); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("%s list -deps %s: %v\n%s", gobin, pkg, err, stderr)
	}
	imports := make(map[string][]string) // package -> its imports, for every dependency
	for line := range strings.Lines(string(out)) {
		if f := strings.Fields(line); len(f) > 0 {
			imports[f[0]] = f[1:]
		}
	}
	if _, ok := imports[pkg]; !ok {
		t.Fatalf("go list -deps %s did not list the package itself:\n%s", pkg, out)
	}
	for _, bad := range serverDeps {
		if chain := importChain(imports, pkg, bad); chain != nil {
			t.Errorf("%s links %s, a server dependency: %s", pkg, bad, strings.Join(chain, " -> "))
		}
	}
}

// importChain returns the shortest chain of imports from root to a package whose path starts
// with prefix, or nil when there is none.
func importChain(imports map[string][]string, root, prefix string) []string {
	parent := map[string]string{root: ""}
	queue := []string{root}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if strings.HasPrefix(p, prefix) {
			var chain []string
			for ; p != ""; p = parent[p] {
				chain = append([]string{p}, chain...)
			}
			return chain
		}
		for _, imp := range imports[p] {
			if _, seen := parent[imp]; !seen {
				parent[imp] = p
				queue = append(queue, imp)
			}
		}
	}
	return nil
}

// goCommand returns the go command: the one in PATH, else the one of the toolchain that built
// this test. It skips the test when there is neither.
func goCommand(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	p := filepath.Join(runtime.GOROOT(), "bin", "go")
	if runtime.GOOS == "windows" {
		p += ".exe"
	}
	if _, err := exec.LookPath(p); err == nil {
		return p
	}
	t.Skip("no go command in PATH or GOROOT/bin: cannot list the client's dependencies")
	return ""
}
