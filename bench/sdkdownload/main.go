// Command sdkdownload times the Alibaba Cloud OSS Go SDK's DownloadFile, the
// baseline of bench/mount.sh: it downloads one object with N routines and
// prints the seconds it took. Credentials come from OSS_ACCESS_KEY_ID and
// OSS_ACCESS_KEY_SECRET.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/aliyun/aliyun-oss-go-sdk/oss"
)

func main() {
	endpoint := flag.String("endpoint", "", "OSS endpoint, e.g. http://127.0.0.1:9000")
	region := flag.String("region", "cn-hangzhou", "region for V4 signatures")
	bucket := flag.String("bucket", "", "bucket")
	key := flag.String("key", "", "object key")
	dest := flag.String("dest", "", "file to write")
	routines := flag.Int("routines", 16, "parallel part downloads")
	partSize := flag.Int64("part-size", 8<<20, "part size in bytes")
	flag.Parse()
	if err := run(*endpoint, *region, *bucket, *key, *dest, *routines, *partSize); err != nil {
		fmt.Fprintln(os.Stderr, "sdkdownload:", err)
		os.Exit(1)
	}
}

func run(endpoint, region, bucket, key, dest string, routines int, partSize int64) error {
	client, err := oss.New(endpoint, os.Getenv("OSS_ACCESS_KEY_ID"), os.Getenv("OSS_ACCESS_KEY_SECRET"),
		oss.AuthVersion(oss.AuthV4), oss.Region(region))
	if err != nil {
		return err
	}
	b, err := client.Bucket(bucket)
	if err != nil {
		return err
	}
	start := time.Now()
	err = b.DownloadFile(key, dest, partSize, oss.Routines(routines), oss.Checkpoint(true, dest+".cp"))
	if err != nil {
		return err
	}
	fmt.Printf("%.3f\n", time.Since(start).Seconds())
	return nil
}
