// Package config owns samtrack's settings: their names, defaults and
// validation, and the layering of a YAML file, SAMTRACK_* environment
// variables and command-line flags (each overriding the one before) through
// viper. configs/samtrack.yaml documents every key with its default; a test
// keeps the two in step. An unknown key or a bad value is an error that
// names the key.
package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"
	"time"

	"samtrack/media"
	"samtrack/tracker"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// Config is every setting. Field tags are the keys used in the file, in
// SAMTRACK_<SECTION>_<KEY> variables and in `options` objects of the API.
type Config struct {
	Log     Log     `mapstructure:"log" json:"log"`
	Runtime Runtime `mapstructure:"runtime" json:"runtime"`
	Models  Models  `mapstructure:"models" json:"models"`
	SAM     SAM     `mapstructure:"sam" json:"sam"`
	Video   Video   `mapstructure:"video" json:"video"`
	// Everything configures automatic mask generation (media owns its
	// fields, defaults and checks, which segment uses as they are).
	Everything media.EverythingOptions `mapstructure:"everything" json:"everything"`
	Track      Track                   `mapstructure:"track" json:"track"`
	Remove     Remove                  `mapstructure:"remove" json:"remove"`
}

// Log configures log/slog.
type Log struct {
	Level  string `mapstructure:"level" json:"level"`   // debug, info, warn, error
	Format string `mapstructure:"format" json:"format"` // text or json
}

// Runtime configures ONNX Runtime.
type Runtime struct {
	ORTLibrary string `mapstructure:"ort_library" json:"ort_library"` // empty: search the usual places
	Threads    int    `mapstructure:"threads" json:"threads"`         // intra-op threads; 0 = all cores
}

// Models says where pulled models live and where they come from.
type Models struct {
	Dir string `mapstructure:"dir" json:"dir"` // empty: <user cache>/samtrack/models
	// Mirror replaces https://huggingface.co/ in download URLs (a Hugging
	// Face mirror with the same paths); empty: download from the publisher.
	Mirror string `mapstructure:"mirror" json:"mirror"`
}

// SAM selects the segmentation model.
type SAM struct {
	Model   string `mapstructure:"model" json:"model"`     // registry name
	Encoder string `mapstructure:"encoder" json:"encoder"` // or explicit files
	Decoder string `mapstructure:"decoder" json:"decoder"`
	// Refine applies SAM-Track's two-pass refinement to clicks and boxes.
	Refine bool `mapstructure:"refine" json:"refine"`
}

// Video configures decoding.
type Video struct {
	Start     time.Duration `mapstructure:"start" json:"start"`
	MaxFrames int           `mapstructure:"max_frames" json:"max_frames"`
	Stride    int           `mapstructure:"stride" json:"stride"`
	MaxSide   int           `mapstructure:"max_side" json:"max_side"`
	Threads   int           `mapstructure:"threads" json:"threads"`
	Timeout   time.Duration `mapstructure:"timeout" json:"timeout"`
	// MaxPixels bounds every image and frame input (width x height),
	// checked from the header before anything is decoded.
	MaxPixels int `mapstructure:"max_pixels" json:"max_pixels"`
}

// Track configures the tracking loop.
type Track struct {
	Propagator     string  `mapstructure:"propagator" json:"propagator"` // builtin, a model name or an ONNX file
	SAMGap         int     `mapstructure:"sam_gap" json:"sam_gap"`
	MinNewObjRatio float64 `mapstructure:"min_new_obj_ratio" json:"min_new_obj_ratio"`
	MinArea        int     `mapstructure:"min_area" json:"min_area"`
	LostAfter      int     `mapstructure:"lost_after" json:"lost_after"`
	LongTermMemGap int     `mapstructure:"long_term_mem_gap" json:"long_term_mem_gap"`
	MaxLongTerm    int     `mapstructure:"max_long_term" json:"max_long_term"`
	// Discover runs everything mode every sam_gap frames (needs a SAM model).
	Discover            bool    `mapstructure:"discover" json:"discover"`
	Refresh             bool    `mapstructure:"refresh" json:"refresh"`
	MaxNewObjFrameRatio float64 `mapstructure:"max_new_obj_frame_ratio" json:"max_new_obj_frame_ratio"`
	ReIDMinSimilarity   float64 `mapstructure:"reid_min_similarity" json:"reid_min_similarity"`
	Overlay             bool    `mapstructure:"overlay" json:"overlay"`
	// MaxPrompts bounds the prompts of one job, and MaxFramePrompts those
	// on one frame; both are checked before any work starts (each prompt
	// costs a SAM decoder pass).
	MaxPrompts      int `mapstructure:"max_prompts" json:"max_prompts"`
	MaxFramePrompts int `mapstructure:"max_frame_prompts" json:"max_frame_prompts"`
	// Direction is forward, backward or both: which way objects prompted
	// on a frame are tracked from it; auto is both when a prompt is on a
	// frame other than 0, else forward.
	Direction string `mapstructure:"direction" json:"direction"`
}

// DefaultMaxSide is video.max_side's default: the longest side the tracker
// works at (prompts and outputs stay in the input's pixels).
const DefaultMaxSide = 1920

// Remove configures object removal (samtrack remove, remove jobs).
type Remove struct {
	Margin int    `mapstructure:"margin" json:"margin"` // px the objects' masks are dilated by
	Window int    `mapstructure:"window" json:"window"` // frames before and after a frame to borrow background from
	Method string `mapstructure:"method" json:"method"` // OpenCV synthesis of never-seen pixels: telea or ns
	Model  string `mapstructure:"model" json:"model"`   // LaMa ONNX file to synthesise with instead (empty: OpenCV)
	CRF    int    `mapstructure:"crf" json:"crf"`       // H.264 quality of the output (libx264 CRF; lower is better)
}

// Default returns the built-in defaults.
func Default() Config {
	return Config{
		Log:     Log{Level: "info", Format: "text"},
		Runtime: Runtime{},
		// A working-size cap of 1920 leaves 1080p and smaller inputs alone
		// and tracks larger ones (4K phone video) at 1920 on the long side:
		// outputs stay at the source size, see docs/BENCHMARKS.md.
		Video:      Video{Stride: 1, Timeout: 10 * time.Second, MaxSide: DefaultMaxSide, MaxPixels: DefaultMaxPixels},
		Everything: media.DefaultEverythingOptions(),
		Track: Track{
			Propagator: "builtin", SAMGap: 10, MinNewObjRatio: 0.8, MinArea: 200,
			LostAfter: 5, LongTermMemGap: 0, MaxLongTerm: 16,
			Discover: true, Refresh: true, MaxNewObjFrameRatio: 0.5, ReIDMinSimilarity: 0.7, Overlay: true,
			MaxPrompts: 256, MaxFramePrompts: 64, Direction: "auto",
		},
		Remove: Remove{Margin: 16, Window: 30, Method: "telea", CRF: 14},
	}
}

// DefaultMaxPixels is video.max_pixels' default: 8192x8192, above 8K video.
const DefaultMaxPixels = 8192 * 8192

// EnvPrefix prefixes every environment variable that sets a key.
const EnvPrefix = "SAMTRACK"

// envNotKeys are SAMTRACK_* variables that are not configuration keys.
var envNotKeys = map[string]bool{"SAMTRACK_CONFIG": true, "SAMTRACK_ORT_LIB": true, "SAMTRACK_CACHE": true}

// Keys lists every key ("section.name"), sorted.
func Keys() []string {
	var keys []string
	walk(reflect.TypeOf(Config{}), "", func(k string) { keys = append(keys, k) })
	sort.Strings(keys)
	return keys
}

func walk(t reflect.Type, prefix string, f func(string)) {
	for i := 0; i < t.NumField(); i++ {
		fld := t.Field(i)
		key := fld.Tag.Get("mapstructure")
		if prefix != "" {
			key = prefix + "." + key
		}
		if fld.Type.Kind() == reflect.Struct && fld.Type != reflect.TypeOf(time.Duration(0)) {
			walk(fld.Type, key, f)
			continue
		}
		f(key)
	}
}

// EnvName is the environment variable for a key.
func EnvName(key string) string {
	return EnvPrefix + "_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// Source says where to read settings from.
type Source struct {
	// File is a YAML file; "" means $SAMTRACK_CONFIG, or none.
	File string
	// Flags maps keys to command-line flags that override them when set.
	Flags map[string]*pflag.Flag
	// Overrides are applied last (the service's per-job options).
	Overrides map[string]any
	// Environ is the environment; nil means os.Environ().
	Environ []string
}

// Load layers defaults, the file, the environment, flags and overrides.
func Load(src Source) (Config, error) {
	v := viper.New()
	def := map[string]any{}
	flatten(reflect.ValueOf(Default()), "", def)
	for k, val := range def {
		v.SetDefault(k, val)
	}
	environ := src.Environ
	if environ == nil {
		environ = os.Environ()
	}
	env := map[string]string{}
	for _, kv := range environ {
		if k, val, ok := strings.Cut(kv, "="); ok {
			env[k] = val
		}
	}
	file := src.File
	if file == "" {
		file = env["SAMTRACK_CONFIG"]
	}
	// where each key's value came from, for an error about it: the
	// environment, a flag or an option, else the file
	source := map[string]string{}
	fromFile := "the defaults"
	if file != "" {
		fromFile = "config " + file
		v.SetConfigFile(file)
		v.SetConfigType("yaml")
		if err := v.ReadInConfig(); err != nil {
			return Config{}, fmt.Errorf("read config %s: %w", file, err)
		}
		known := map[string]bool{}
		for _, k := range Keys() {
			known[k] = true
		}
		for _, k := range v.AllKeys() {
			if !known[k] {
				return Config{}, fmt.Errorf("config %s: unknown key %q (known keys: samtrack config keys)", file, k)
			}
		}
	}
	keyOfEnv := map[string]string{}
	for _, k := range Keys() {
		keyOfEnv[EnvName(k)] = k
	}
	for name, val := range env {
		if !strings.HasPrefix(name, EnvPrefix+"_") || envNotKeys[name] {
			continue
		}
		k, ok := keyOfEnv[name]
		if !ok {
			return Config{}, fmt.Errorf("environment variable %s names no configuration key; see `samtrack config keys`", name)
		}
		v.Set(k, val)
		source[k] = "environment variable " + name
	}
	for k, f := range src.Flags {
		if f != nil && f.Changed {
			v.Set(k, f.Value.String())
			source[k] = "flag --" + f.Name
		}
	}
	for k, val := range src.Overrides {
		if _, ok := def[k]; !ok {
			return Config{}, fmt.Errorf("unknown option %q", k)
		}
		v.Set(k, val)
		source[k] = "option " + k
	}
	var c Config
	err := v.UnmarshalExact(&c, func(dc *mapstructure.DecoderConfig) {
		dc.DecodeHook = mapstructure.ComposeDecodeHookFunc(mapstructure.StringToTimeDurationHookFunc())
		dc.WeaklyTypedInput = true
	})
	if err != nil {
		return Config{}, decodeError(err, def, func(key string) (any, string) {
			if s, ok := source[key]; ok {
				return v.Get(key), s
			}
			return v.Get(key), fromFile
		})
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// decodeError rewrites a decoding failure as one line per bad key: its
// value, where the value came from, and what the key takes (from the type
// of its default).
func decodeError(err error, def map[string]any, origin func(key string) (any, string)) error {
	var lines []string
	var walk func(error)
	walk = func(e error) {
		switch u := e.(type) {
		case *mapstructure.DecodeError:
			val, src := origin(u.Name())
			lines = append(lines, fmt.Sprintf("%s = %q (from %s): want %s", u.Name(), fmt.Sprint(val), src, wantOf(def[u.Name()])))
		case interface{ Unwrap() []error }:
			for _, x := range u.Unwrap() {
				walk(x)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		}
	}
	walk(err)
	if len(lines) == 0 {
		return fmt.Errorf("bad configuration value: %w", err)
	}
	return fmt.Errorf("bad configuration value: %s", strings.Join(lines, "; "))
}

// wantOf says what a key whose default is v takes.
func wantOf(v any) string {
	t := reflect.TypeOf(v)
	if t == nil {
		return "a value of the key's type (see configs/samtrack.yaml)"
	}
	if t.Kind() == reflect.Pointer { // optional: unset or a value
		t = t.Elem()
	}
	if t == reflect.TypeOf(time.Duration(0)) {
		return "a duration such as 500ms, 10s or 2m"
	}
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice:
		return "a list"
	}
	return "a value of the key's type (see configs/samtrack.yaml)"
}

func flatten(v reflect.Value, prefix string, out map[string]any) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		key := t.Field(i).Tag.Get("mapstructure")
		if prefix != "" {
			key = prefix + "." + key
		}
		fv := v.Field(i)
		if fv.Kind() == reflect.Struct && fv.Type() != reflect.TypeOf(time.Duration(0)) {
			flatten(fv, key, out)
			continue
		}
		out[key] = fv.Interface()
	}
}

// Validate checks ranges and enumerations, naming the offending key.
func (c Config) Validate() error {
	var errs []error
	bad := func(key string, val any, want string) {
		errs = append(errs, fmt.Errorf("%s = %v: %s", key, val, want))
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", c.Log.Level, "want debug, info, warn or error")
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		bad("log.format", c.Log.Format, "want text or json")
	}
	for _, r := range []struct {
		broken bool
		key    string
		val    any
		want   string
	}{
		{c.Runtime.Threads < 0, "runtime.threads", c.Runtime.Threads, "want 0 (all cores) or more"},
		{c.Video.Start < 0, "video.start", c.Video.Start, "want a non-negative duration"},
		{c.Video.MaxFrames < 0, "video.max_frames", c.Video.MaxFrames, "want 0 (all) or more"},
		{c.Video.Stride < 1, "video.stride", c.Video.Stride, "want 1 or more"},
		{c.Video.MaxSide < 0 || (c.Video.MaxSide > 0 && c.Video.MaxSide < 16), "video.max_side", c.Video.MaxSide, "want 0 (no cap) or at least 16"},
		{c.Video.Threads < 0, "video.threads", c.Video.Threads, "want 0 (auto) or more"},
		{c.Video.MaxPixels < 1, "video.max_pixels", c.Video.MaxPixels, "want 1 or more (width x height of the largest accepted frame)"},
		{c.Track.MaxPrompts < 1, "track.max_prompts", c.Track.MaxPrompts, "want 1 or more"},
		{c.Track.MaxFramePrompts < 1, "track.max_frame_prompts", c.Track.MaxFramePrompts, "want 1 or more"},
		{c.Video.Timeout <= 0, "video.timeout", c.Video.Timeout, "want a positive duration such as 10s"},
	} {
		if r.broken {
			bad(r.key, r.val, r.want)
		}
	}
	errs = append(errs, c.Remove.validate()...)
	if err := c.Everything.Validate(); err != nil {
		errs = append(errs, err)
	}
	if m := c.Models.Mirror; m != "" && !strings.HasPrefix(m, "http://") && !strings.HasPrefix(m, "https://") {
		bad("models.mirror", m, "want an http:// or https:// URL with Hugging Face's paths")
	}
	t := c.Track
	if t.Propagator == "" {
		bad("track.propagator", `""`, "want builtin, a model name or an ONNX file")
	}
	switch t.Direction {
	case "auto", "forward", "backward", "both":
	default:
		bad("track.direction", t.Direction, "want auto, forward, backward or both")
	}
	// The tracking loop's own settings are checked where their rules live.
	if err := c.TrackerOptions().Validate(); err != nil {
		errs = append(errs, err)
	}
	if t.LongTermMemGap < 0 {
		bad("track.long_term_mem_gap", t.LongTermMemGap, "want 1 or more, or 0 for the propagator model's own")
	}
	if t.MaxLongTerm < 1 {
		bad("track.max_long_term", t.MaxLongTerm, "want 1 or more")
	}
	if (c.SAM.Encoder == "") != (c.SAM.Decoder == "") {
		bad("sam.encoder/sam.decoder", c.SAM.Encoder+" / "+c.SAM.Decoder, "give both files or neither")
	}
	if c.SAM.Model != "" && c.SAM.Encoder != "" {
		bad("sam.model", c.SAM.Model, "give a model name or encoder and decoder files, not both")
	}
	return errors.Join(errs...)
}

func (r Remove) validate() []error {
	var errs []error
	bad := func(key string, val any, want string) {
		errs = append(errs, fmt.Errorf("%s = %v: %s", key, val, want))
	}
	if r.Margin < 0 || r.Margin > 200 {
		bad("remove.margin", r.Margin, "want 0-200 pixels")
	}
	if r.Window < 1 || r.Window > 500 {
		bad("remove.window", r.Window, "want 1-500 frames")
	}
	if r.Method != "telea" && r.Method != "ns" {
		bad("remove.method", r.Method, "want telea or ns")
	}
	if r.CRF < 1 || r.CRF > 51 {
		bad("remove.crf", r.CRF, "want 1-51 (lower is better quality)")
	}
	return errs
}

// TrackerOptions are the tracking loop's options of c (without a logger).
func (c Config) TrackerOptions() tracker.Options {
	o := tracker.DefaultOptions()
	t := c.Track
	o.SAMGap, o.MinNewObjRatio, o.MinArea, o.LostAfter = t.SAMGap, t.MinNewObjRatio, t.MinArea, t.LostAfter
	o.Discover, o.Refresh, o.MaxNewObjFrameRatio, o.ReIDMinSimilarity = t.Discover, t.Refresh, t.MaxNewObjFrameRatio, t.ReIDMinSimilarity
	return o
}
