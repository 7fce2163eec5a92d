// Package integration holds ossmount's end-to-end tests: the real OSS SDK
// against the local OSS-compatible server on loopback (package
// internal/ossserver), real FUSE mounts, and the ossmount binary run as a
// user would. It has no code of its own outside its tests.
//
// The FUSE tests skip where /dev/fuse or the rights to mount are missing,
// unless OSSMOUNT_REQUIRE_FUSE=1 is set (as .ci/run does), in which case
// they fail instead.
package integration
