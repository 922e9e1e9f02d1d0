package segment

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"samtrack/models/onnxedit"
	"samtrack/ort"
)

// Families of models: an encoder layout and a decoder layout of the same
// family make a Model.
const (
	familySAM1 = "sam1"
	familySAM2 = "sam2"
)

// Model formats returned by Model.Format.
const (
	FormatSAM1 = "sam1"
	FormatSAM2 = "sam2"
)

// OpenOptions tune Open.
type OpenOptions struct {
	// Threads is ONNX Runtime's intra-op thread count for each session;
	// 0 uses every CPU.
	Threads int
	// Logger receives debug messages; nil uses slog.Default().
	Logger *slog.Logger
}

func (o OpenOptions) logger() *slog.Logger {
	if o.Logger != nil {
		return o.Logger
	}
	return slog.Default()
}

type family struct {
	name string
	open func(rt *ort.Runtime, enc, dec Detection, opts OpenOptions) (Model, error)
}

func families() []family {
	return []family{
		{familySAM1, openSAM1},
		{familySAM2, openSAM2},
	}
}

// Open loads a SAM-family model from its encoder and decoder ONNX files,
// detecting their layout from tensor names. Each file gets one ONNX Runtime
// session, created here and freed by Close.
func Open(rt *ort.Runtime, encoderPath, decoderPath string, opts OpenOptions) (Model, error) {
	if rt == nil {
		return nil, errors.New("segment.Open: nil ONNX Runtime; call ort.Open first")
	}
	enc, err := DetectFile(rt, encoderPath)
	if err != nil {
		return nil, fmt.Errorf("open SAM encoder: %w", err)
	}
	if err := enc.Err(RoleEncoder); err != nil {
		return nil, fmt.Errorf("open SAM encoder: %w", err)
	}
	dec, err := DetectFile(rt, decoderPath)
	if err != nil {
		return nil, fmt.Errorf("open SAM decoder: %w", err)
	}
	if err := dec.Err(RoleDecoder); err != nil {
		return nil, fmt.Errorf("open SAM decoder: %w", err)
	}
	if enc.Layout.Family != dec.Layout.Family {
		return nil, fmt.Errorf("open SAM model: encoder %s is %s but decoder %s is %s; use an encoder and a decoder of the same model",
			encoderPath, enc.Layout.Title, decoderPath, dec.Layout.Title)
	}
	for _, f := range families() {
		if f.name == enc.Layout.Family {
			m, err := f.open(rt, enc, dec, opts)
			if err != nil {
				return nil, fmt.Errorf("open SAM model (%s, %s): %w", encoderPath, decoderPath, err)
			}
			opts.logger().Debug("segment model opened", "format", m.Format(),
				"encoder", encoderPath, "encoder_layout", enc.Layout.Name,
				"decoder", decoderPath, "decoder_layout", dec.Layout.Name)
			return m, nil
		}
	}
	return nil, fmt.Errorf("open SAM model: no implementation for family %s", enc.Layout.Family)
}

// closeAll closes sessions, keeping the first error.
func closeAll(ss ...*ort.Session) error {
	var first error
	for _, s := range ss {
		if s == nil {
			continue
		}
		if err := s.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// readInlined reads the ONNX model at path with its external weights
// inlined, so that edited copies of it load from memory.
func readInlined(path string) ([]byte, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	raw, _, err = onnxedit.InlineExternalData(raw, filepath.Dir(path))
	return raw, err
}

// prunedSession opens raw, the model read from path, pruned to the outputs
// keep and the nodes they need: ONNX Runtime runs nodes that feed no
// requested output, so they are removed (onnxedit.PruneToOutputs).
func prunedSession(rt *ort.Runtime, raw []byte, path string, so ort.Options, keep ...string) (*ort.Session, error) {
	pruned, err := onnxedit.PruneToOutputs(raw, keep)
	if err != nil {
		return nil, fmt.Errorf("prune decoder %s to %v: %w", path, keep, err)
	}
	return rt.NewSessionFromBytes(fmt.Sprintf("%s (%v only)", path, keep), pruned, so)
}
