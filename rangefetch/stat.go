package rangefetch

import (
	"context"
	"fmt"
	"net/http"
	"strconv"

	"github.com/aliyun/aliyun-oss-go-sdk/oss"
	"github.com/ossmount/ossmount/object"
)

// Stat sends HEAD for bucket/key and returns its size, ETag, CRC64,
// modification time, storage class and object type.
func (c *Client) Stat(ctx context.Context, bucket, key string) (object.Info, error) {
	b, err := c.bucket(bucket)
	if err != nil {
		return object.Info{}, &Error{Op: opHead, Bucket: bucket, Key: key, Err: err}
	}
	if key == "" {
		return object.Info{}, &Error{Op: opHead, Bucket: bucket, Key: key, Kind: ErrNotFound,
			Err: fmt.Errorf("empty object key")}
	}
	var h http.Header
	err = c.withRetry(ctx, opHead, bucket, key, func(ctx context.Context) (bool, error) {
		var err error
		h, err = b.GetObjectDetailedMeta(key, oss.WithContext(ctx))
		return false, err
	})
	if err != nil {
		return object.Info{}, err
	}
	info, perr := parseObjectHeaders(bucket, key, h)
	if perr != nil {
		return object.Info{}, &Error{Op: opHead, Bucket: bucket, Key: key, Kind: ErrBadResponse, Err: perr,
			RequestID: h.Get(oss.HTTPHeaderOssRequestID)}
	}
	return info, nil
}

func parseObjectHeaders(bucket, key string, h http.Header) (object.Info, error) {
	info := object.Info{
		Bucket:       bucket,
		Key:          key,
		ETag:         h.Get("ETag"),
		StorageClass: h.Get("X-Oss-Storage-Class"),
		ObjectType:   h.Get("X-Oss-Object-Type"),
	}
	size, err := strconv.ParseInt(h.Get("Content-Length"), 10, 64)
	if err != nil || size < 0 {
		return object.Info{}, fmt.Errorf("HEAD reply has no valid Content-Length (%q)", h.Get("Content-Length"))
	}
	info.Size = size
	if info.ETag == "" {
		return object.Info{}, fmt.Errorf("HEAD reply has no ETag")
	}
	if s := h.Get("X-Oss-Hash-Crc64ecma"); s != "" {
		crc, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return object.Info{}, fmt.Errorf("HEAD reply has an invalid x-oss-hash-crc64ecma %q", s)
		}
		info.CRC64, info.HasCRC64 = crc, true
	}
	if s := h.Get("Last-Modified"); s != "" {
		t, err := http.ParseTime(s)
		if err != nil {
			return object.Info{}, fmt.Errorf("HEAD reply has an invalid Last-Modified %q", s)
		}
		info.LastModified = t.UTC()
	}
	if info.StorageClass == "" {
		info.StorageClass = "Standard"
	}
	return info, nil
}

// CheckBucket verifies in one request that the endpoint is reachable, the
// credentials are accepted and the bucket exists. It uses GetBucketInfo
// rather than the SDK's IsBucketExist, which lists all buckets and needs
// a permission a read-only key rarely has.
func (c *Client) CheckBucket(ctx context.Context, bucket string) error {
	if err := ValidateBucketName(bucket); err != nil {
		return &Error{Op: opBucketInfo, Bucket: bucket, Err: err}
	}
	return c.withRetry(ctx, opBucketInfo, bucket, "", func(ctx context.Context) (bool, error) {
		_, err := c.oss.GetBucketInfo(bucket, oss.WithContext(ctx))
		return false, err
	})
}

// ListPage lists one page of keys directly under prefix (delimiter "/"):
// objects and common prefixes ("sub-directories"). token is "" for the
// first page and the previous page's NextToken after. maxKeys <= 0 means
// 1000, the OSS maximum.
func (c *Client) ListPage(ctx context.Context, bucket, prefix, token string, maxKeys int) (ListPage, error) {
	b, err := c.bucket(bucket)
	if err != nil {
		return ListPage{}, &Error{Op: opList, Bucket: bucket, Key: prefix, Err: err}
	}
	if maxKeys <= 0 || maxKeys > 1000 {
		maxKeys = 1000
	}
	opts := []oss.Option{oss.Prefix(prefix), oss.Delimiter("/"), oss.MaxKeys(maxKeys)}
	if token != "" {
		opts = append(opts, oss.ContinuationToken(token))
	}
	var res oss.ListObjectsResultV2
	err = c.withRetry(ctx, opList, bucket, prefix, func(ctx context.Context) (bool, error) {
		var err error
		res, err = b.ListObjectsV2(append(opts, oss.WithContext(ctx))...)
		return false, err
	})
	if err != nil {
		return ListPage{}, err
	}
	page := ListPage{Prefixes: res.CommonPrefixes}
	if res.IsTruncated {
		page.NextToken = res.NextContinuationToken
	}
	page.Objects = make([]object.Info, 0, len(res.Objects))
	for _, o := range res.Objects {
		sc := o.StorageClass
		if sc == "" {
			sc = "Standard"
		}
		page.Objects = append(page.Objects, object.Info{
			Bucket: bucket, Key: o.Key, Size: o.Size, ETag: o.ETag,
			LastModified: o.LastModified.UTC(), StorageClass: sc, ObjectType: o.Type,
		})
	}
	return page, nil
}
