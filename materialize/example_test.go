package materialize_test

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/ossmount/ossmount/cache"
	"github.com/ossmount/ossmount/internal/ossserver"
	"github.com/ossmount/ossmount/materialize"
	"github.com/ossmount/ossmount/rangefetch"
)

// A resumable, verified download of one object into a local file, with a
// progress callback. The local OSS-compatible server stands in for an OSS
// endpoint here; against OSS, Endpoint is e.g. "oss-cn-hangzhou.aliyuncs.com"
// and the credentials come from rangefetch.CredentialsFromEnv.
func Example() {
	mem := ossserver.NewMemStorage()
	mem.Put("models", "llm/weights.bin", bytes.Repeat([]byte("0123456789abcdef"), 1<<18)) // 4 MiB
	creds := ossserver.Credentials{AccessKeyID: "LTAIexample", AccessKeySecret: "example-secret"}
	srv, err := ossserver.Listen("127.0.0.1:0", ossserver.Config{Storage: mem, Credentials: creds})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	client, err := rangefetch.New(rangefetch.Config{
		Endpoint: srv.Endpoint,
		Credentials: rangefetch.Credentials{
			AccessKeyID: creds.AccessKeyID, AccessKeySecret: creds.AccessKeySecret,
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	dir, err := os.MkdirTemp("", "materialize-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	// The cache records every block that arrived, so a run that is
	// interrupted and started again fetches only what is missing.
	c, err := cache.Open(cache.Options{Dir: filepath.Join(dir, "cache")}, client)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	var last int64
	res, err := materialize.Materialize(context.Background(), c, client, materialize.Request{
		Bucket: "models",
		Key:    "llm/weights.bin",
		Dest:   filepath.Join(dir, "weights.bin"),
		// Keep the cache's copy (by default a finished run moves the
		// cache's file into place when both are on one filesystem).
		KeepCache: true,
	}, func(done, total int64) { last = done })
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d bytes, verified %v, progress reached %d\n", res.Size, res.Verified, last)

	// A second run finds every block in the cache and fetches nothing.
	res, err = materialize.Materialize(context.Background(), c, client, materialize.Request{
		Bucket: "models",
		Key:    "llm/weights.bin",
		Dest:   filepath.Join(dir, "again.bin"),
	}, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("again: fetched %d bytes, reused %d\n", res.FetchedBytes, res.ReusedBytes)
	// Output:
	// 4194304 bytes, verified true, progress reached 4194304
	// again: fetched 0 bytes, reused 4194304
}
