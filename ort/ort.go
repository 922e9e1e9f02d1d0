// Package ort is samtrack's only door to ONNX Runtime. It finds and loads the
// shared library, creates sessions with the project's threading defaults,
// describes a model's inputs and outputs, and runs sessions on plain Go
// slices. Every other package works with Tensor values and never imports
// onnxruntime_go, so the cgo boundary and the ownership of native memory stay
// in this one place.
package ort

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	onnx "github.com/yalue/onnxruntime_go"
)

// Version is the ONNX Runtime release that samtrack is built and tested
// against; scripts/setup.sh installs exactly this library.
const Version = "1.25.1"

// ONNX Runtime keeps one environment per process. onnxruntime_go exposes it
// as global state, so the runtimes opened here share it through a reference
// count: the environment is created by the first Open and destroyed by the
// last Close.
var (
	envMu    sync.Mutex
	envRefs  int
	envLib   string
	errNoLib = errors.New("libonnxruntime.so not found")
)

// Runtime is a handle on the process's ONNX Runtime environment.
type Runtime struct {
	lib    string
	closed bool
	mu     sync.Mutex
}

// LibraryCandidates lists where Open looks for the library, in order:
// $SAMTRACK_ORT_LIB, $ONNXRUNTIME_LIB, the setup script's cache directory,
// then the system library directories.
func LibraryCandidates() []string {
	var c []string
	for _, env := range []string{"SAMTRACK_ORT_LIB", "ONNXRUNTIME_LIB"} {
		if v := os.Getenv(env); v != "" {
			c = append(c, v)
		}
	}
	cache := os.Getenv("SAMTRACK_CACHE")
	if cache == "" {
		if d, err := os.UserCacheDir(); err == nil {
			cache = filepath.Join(d, "samtrack")
		}
	}
	if cache != "" {
		c = append(c, filepath.Join(cache, "onnxruntime-"+Version, "libonnxruntime.so"))
	}
	c = append(c, "/usr/local/lib/libonnxruntime.so", "/usr/lib/libonnxruntime.so",
		"/usr/lib/x86_64-linux-gnu/libonnxruntime.so")
	return c
}

// FindLibrary returns the first existing library among LibraryCandidates.
func FindLibrary() (string, error) {
	for _, p := range LibraryCandidates() {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w (looked in %v); run `make setup` or set SAMTRACK_ORT_LIB", errNoLib, LibraryCandidates())
}

// Open loads ONNX Runtime from lib (or from FindLibrary when lib is empty)
// and returns a handle that must be closed.
func Open(lib string) (*Runtime, error) {
	if lib == "" {
		var err error
		if lib, err = FindLibrary(); err != nil {
			return nil, err
		}
	}
	envMu.Lock()
	defer envMu.Unlock()
	if envRefs > 0 {
		if lib != envLib {
			return nil, fmt.Errorf("onnxruntime already loaded from %s; cannot also load %s", envLib, lib)
		}
		envRefs++
		return &Runtime{lib: lib}, nil
	}
	if _, err := os.Stat(lib); err != nil {
		return nil, fmt.Errorf("onnxruntime library %s: %w; run `make setup` or set SAMTRACK_ORT_LIB", lib, err)
	}
	onnx.SetSharedLibraryPath(lib)
	if err := onnx.InitializeEnvironment(onnx.WithLogLevelError()); err != nil {
		return nil, fmt.Errorf("initialise onnxruntime from %s (need version %s): %w", lib, Version, err)
	}
	envRefs = 1
	envLib = lib
	return &Runtime{lib: lib}, nil
}

// Library is the path of the loaded shared library.
func (r *Runtime) Library() string { return r.lib }

// RuntimeVersion is the version string reported by the loaded library.
func (r *Runtime) RuntimeVersion() string { return onnx.GetVersion() }

// Close releases this handle; the environment goes with the last one.
func (r *Runtime) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	envMu.Lock()
	defer envMu.Unlock()
	envRefs--
	if envRefs == 0 {
		envLib = ""
		if err := onnx.DestroyEnvironment(); err != nil {
			return fmt.Errorf("destroy onnxruntime environment: %w", err)
		}
	}
	return nil
}

// Options tune a session. The zero value uses every core for one run.
type Options struct {
	// IntraOpThreads is the thread count inside one operator; 0 means the
	// number of CPUs.
	IntraOpThreads int
	// Outputs, when set, restricts the session to these outputs. Others are
	// never fetched.
	Outputs []string
	// DisableOptimizers names ONNX Runtime graph optimizers to turn off for
	// this session (session config "optimization.disable_specified_optimizers"),
	// e.g. "ConstantFolding", for models that an optimizer miscompiles.
	DisableOptimizers []string
}

func (o Options) threads() int {
	if o.IntraOpThreads > 0 {
		return o.IntraOpThreads
	}
	return runtime.NumCPU()
}
