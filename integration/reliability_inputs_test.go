package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ossmount/ossmount/internal/ossserver"
	"github.com/ossmount/ossmount/internal/testutil"
)

// The bad inputs of TestReliabilityFigures: the command lines a careful user
// might get wrong, and the signals that end a run mid-way.

// badInputs runs the CLI on inputs that must fail cleanly, each within a
// deadline, and records the exit code and the first line it printed.
func (e *relEnv) badInputs() []relInput {
	var out []relInput
	src := "oss://" + relBucket + "/object.bin"
	outDir := e.fresh("out")
	dest := filepath.Join(outDir, "object.bin")
	cacheDir := e.fresh("cache")
	run := func(what string, env []string, args ...string) {
		code, msg, hung := e.ossmount(relMountWait, env, args...)
		out = append(out, relInput{what: what, code: code, hung: hung, first: firstLine(strings.ReplaceAll(msg, e.dir, "$T"))})
	}
	mat := func(what string, env []string, extra ...string) {
		run(what, env, append([]string{"materialize", "--cache-dir", cacheDir}, extra...)...)
	}
	mnt := func(what string, env []string, extra ...string) {
		mp := e.fresh("mnt")
		run(what, env, append([]string{"mount", "--cache-dir", e.fresh("cache")}, append(extra, mp)...)...)
		syscall.Unmount(mp, syscall.MNT_DETACH)
	}

	mnt("mount: URL with scheme s3://", nil, "s3://"+relBucket)
	mnt("mount: URL without a bucket (oss://)", nil, "oss://")
	mnt("mount: bucket name with invalid characters", nil, "oss://Bad_Bucket!")
	mat("materialize: URL without a key", nil, "oss://"+relBucket, dest)
	mat("materialize: URL with one slash (oss:/b/k)", nil, "oss:/"+relBucket+"/object.bin", dest)
	mat("materialize: empty SOURCE", nil, "", dest)
	mnt("mount: missing bucket", nil, "oss://no-such-bucket")
	mat("materialize: missing bucket", nil, "oss://no-such-bucket/object.bin", dest)
	mat("materialize: missing key", nil, "oss://"+relBucket+"/no-such-key", dest)
	mnt("mount: wrong secret", []string{"OSS_ACCESS_KEY_SECRET=wrong"}, "oss://"+relBucket)
	mat("materialize: unknown access key id", []string{"OSS_ACCESS_KEY_ID=LTAIunknown"}, src, dest)
	mat("materialize: no credentials", []string{"OSS_ACCESS_KEY_ID=", "OSS_ACCESS_KEY_SECRET="}, src, dest)
	credFile := filepath.Join(e.fresh("creds"), "creds")
	os.WriteFile(credFile, []byte("OSS_ACCESS_KEY_ID="+e.creds.AccessKeyID+"\nOSS_ACCESS_KEY_SECRET="+e.creds.AccessKeySecret+"\n"), 0o644)
	mat("materialize: credentials file with mode 0644", nil, "--credentials-file", credFile, src, dest)
	mat("materialize: unreachable endpoint", []string{"OSS_ENDPOINT=127.0.0.1:1"}, src, dest)
	mat("materialize: https:// to a plain-HTTP endpoint", []string{"OSS_ENDPOINT=https://" + strings.TrimPrefix(e.srv.Endpoint, "http://")}, src, dest)
	mat("materialize: --part-size 0", nil, "--part-size", "0", src, dest)
	mat("materialize: --part-size 10GiB", nil, "--part-size", "10GiB", src, dest)
	mat("materialize: --threads 0", nil, "--threads", "0", src, dest)
	mnt("mount: --cache-size -1", nil, "--cache-size", "-1", "oss://"+relBucket)
	mnt("mount: --read-ahead lots", nil, "--read-ahead", "lots", "oss://"+relBucket)

	run("mount: missing mountpoint", nil, "mount", "--cache-dir", e.fresh("cache"), "oss://"+relBucket, filepath.Join(e.dir, "no-such-dir"))
	busy := e.mount(e.fresh("cache"))
	run("mount: mountpoint already an ossmount mount", nil, "mount", "--cache-dir", e.fresh("cache"), "oss://"+relBucket, busy.mp)
	run("mount: cache directory owned by a running mount", nil, "mount", "--cache-dir", busy.dir, "oss://"+relBucket, e.fresh("mnt"))
	busy.unmount(relMountWait)
	full := e.fresh("mnt")
	os.WriteFile(filepath.Join(full, "file"), []byte("x"), 0o600)
	run("mount: mountpoint that holds files", nil, "mount", "--cache-dir", e.fresh("cache"), "oss://"+relBucket, full)
	run("mount: mountpoint that is a file", nil, "mount", "--cache-dir", e.fresh("cache"), "oss://"+relBucket, filepath.Join(full, "file"))

	mat("materialize: DEST in a read-only filesystem", nil, src, filepath.Join(e.tmpfs(1<<20, true), "object.bin"))
	mat("materialize: DEST is a directory", nil, src, outDir)
	mat("materialize: DEST in a missing directory", nil, src, filepath.Join(outDir, "missing", "object.bin"))
	mat("materialize: DEST on a full 1 MiB filesystem", nil, src, filepath.Join(e.tmpfs(1<<20, false), "object.bin"))
	os.WriteFile(dest, []byte("already here"), 0o600)
	mat("materialize: --no-clobber with DEST present", nil, "--no-clobber", src, dest)
	os.Remove(dest)
	run("unmount: a directory that is no mount point", nil, "unmount", outDir)

	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		out = append(out, e.signalled(fmt.Sprintf("materialize: %s mid-run", sig), sig, []string{"materialize", "--cache-dir", e.fresh("cache"), src, filepath.Join(e.fresh("out"), "object.bin")}, nil))
	}
	mp := e.fresh("mnt")
	out = append(out, e.signalled("mount --foreground: SIGTERM mid-read", syscall.SIGTERM,
		[]string{"mount", "--foreground", "--cache-dir", e.fresh("cache"), "oss://" + relBucket, mp}, func() bool {
			if !isMounted(e.t, mp) {
				return false
			}
			go os.ReadFile(filepath.Join(mp, "object.bin"))
			return true
		}))
	syscall.Unmount(mp, syscall.MNT_DETACH)
	return out
}

// signalled starts ossmount ARGS against a slow server (256 KiB/s per
// body), waits until ready reports true (or, without it, until bytes
// flow), sends sig and waits for the exit within relMountWait.
func (e *relEnv) signalled(what string, sig syscall.Signal, args []string, ready func() bool) relInput {
	e.srv.ResetStats()
	e.srv.SetFaults(ossserver.Faults{BytesPerSecond: 256 << 10})
	defer e.srv.SetFaults(ossserver.Faults{})
	ctx, cancel := context.WithTimeout(context.Background(), relMountWait+relReadWait)
	defer cancel()
	cmd := e.cmd(ctx, nil, args...)
	var buf testutil.LogBuffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	deadline := time.Now().Add(relReadWait)
	for time.Now().Before(deadline) {
		if ready != nil && ready() {
			break
		}
		if ready == nil && e.srv.Stats().BodyBytes > 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if ready != nil {
		deadline := time.Now().Add(relReadWait)
		for e.srv.Stats().BodyBytes == 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
	}
	before := len(buf.String())
	cmd.Process.Signal(sig)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		return relInput{what: what, code: exitOf(ctx, err), first: firstLine(strings.ReplaceAll(buf.String()[before:], e.dir, "$T"))}
	case <-time.After(relMountWait):
		cmd.Process.Kill()
		<-exited
		return relInput{what: what, code: -1, hung: true, first: firstLine(strings.ReplaceAll(buf.String()[before:], e.dir, "$T"))}
	}
}
