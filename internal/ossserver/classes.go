package ossserver

import (
	"net/http"
	"strings"
)

// Storage classes are kept by the server, not the storage, so that tests
// can archive an object of any backend and restore it.

type objectID struct{ bucket, key string }

type classState struct {
	class    string
	restored bool
}

// SetStorageClass overrides the storage class of bucket/key (for example
// "Archive" or "ColdArchive", whose GET fails with 403 InvalidObjectState
// until Restore). "" or "Standard" removes the override.
func (s *Server) SetStorageClass(bucket, key, class string) {
	s.classMu.Lock()
	defer s.classMu.Unlock()
	id := objectID{bucket, key}
	if class == "" || class == "Standard" {
		delete(s.classes, id)
		return
	}
	s.classes[id] = &classState{class: class}
}

// Restore makes an archived object readable, as a finished RestoreObject
// does on OSS.
func (s *Server) Restore(bucket, key string) {
	s.classMu.Lock()
	defer s.classMu.Unlock()
	id := objectID{bucket, key}
	if st := s.classes[id]; st != nil {
		st.restored = true
		return
	}
	s.classes[id] = &classState{restored: true} // the class comes from the storage
}

// storageClass returns the effective class of an object and whether an
// archived object has been restored.
func (s *Server) storageClass(bucket, key string, info ObjectInfo) (string, bool) {
	s.classMu.Lock()
	defer s.classMu.Unlock()
	class, restored := info.StorageClass, false
	if st := s.classes[objectID{bucket, key}]; st != nil {
		restored = st.restored
		if st.class != "" {
			class = st.class
		}
	}
	if class == "" {
		class = "Standard"
	}
	return class, restored
}

// archived reports whether a class needs a restore before GET.
func archived(class string) bool {
	return strings.HasSuffix(class, "Archive") // Archive, ColdArchive, DeepColdArchive
}

// restoreRequest answers POST /bucket/key?restore. The restore completes at
// once: 202 for the first request of an archived object, 200 after.
func (s *Server) restoreRequest(w http.ResponseWriter, r *http.Request, bucket, key string) {
	v, err := s.cfg.Storage.Open(bucket, key)
	if err != nil {
		writeError(w, r, s.storageError(err, bucket, key))
		return
	}
	info := v.Info()
	v.Close()
	class, restored := s.storageClass(bucket, key, info)
	if !archived(class) {
		writeError(w, r, newError(http.StatusBadRequest, "OperationNotSupported",
			"The operation is not supported for this resource.").with("Key", key))
		return
	}
	if restored {
		w.WriteHeader(http.StatusOK)
		return
	}
	s.Restore(bucket, key)
	w.WriteHeader(http.StatusAccepted)
}
