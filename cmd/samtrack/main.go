// Command samtrack segments and tracks every object in a video with Segment
// Anything and a mask propagator. This package only parses flags, loads the
// configuration and wires the packages together; it holds no logic of its
// own. Subcommands: version, segment, track, remove, eval, models, config,
// serve.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/pflag"

	"samtrack/config"
	"samtrack/inpaint"
	"samtrack/media"
	"samtrack/video"
)

// Version is set at build time with -ldflags "-X main.Version=...".
var Version = "0.1.0-dev"

const usage = `samtrack: segment and track every object in a video

usage:
  samtrack version
  samtrack segment (--image FILE | --video FILE --frame N) [--point X,Y[,LABEL]]... [--box X0,Y0,X1,Y1]
                   [--everything] [--sam-encoder FILE --sam-decoder FILE | --model NAME] --out OUT(.png|.json)
  samtrack track INPUT --out DIR [--mask FIRST.png | --prompts prompts.json | --point X,Y[,LABEL] | --box X0,Y0,X1,Y1 | --everything]
                 [--propagator builtin|DIR] [--sam-gap N] [--resume | --overwrite] [--live] [--sam-encoder FILE --sam-decoder FILE | --model NAME]
  samtrack remove INPUT --out OUT.mp4 [the prompt options of track [--resume | --overwrite] | --masks RUNDIR [--ids 1,3]]
                 [--margin PX] [--window N] [--inpaint-method telea|ns | --inpaint-model LAMA.onnx] [--crf N]
  samtrack eval --gt DIR --pred DIR [--json]
  samtrack models list | pull NAME | verify NAME | inspect FILE... | add NAME --encoder FILE --decoder FILE | remove NAME...
  samtrack config keys | show
  samtrack serve [--listen ADDR] [--data DIR] [--allow-dir DIR]... [--token-file FILE | --token TOKEN]
                 [--max-jobs N] [--max-queue N] [--max-live N] [--allow-scheme rtsp,http,https]   (HTTP API: docs/API.md)
                 [--nats URL [--local-worker=false]] [--ack-wait D] [--lease-ttl D]
  samtrack worker --nats URL --data SHARED_DIR [--max-jobs N] [--max-live N] [--ack-wait D] [--lease-ttl D]   (docs/SCALE.md)

Every command takes --config FILE; settings also come from SAMTRACK_* variables.
`

// exitError carries a process exit code.
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string { return e.err.Error() }
func (e exitError) Unwrap() error { return e.err }

func usageErr(format string, a ...any) error {
	return exitError{code: 2, err: fmt.Errorf(format, a...)}
}

// inputExit gives err the usage exit code (2) when it says that what the
// command was given is wrong (a prompt, a missing or unreadable input, a
// frame the input does not have, masks from a run on another input) rather
// than that the work failed (1): running the same command again cannot
// help.
func inputExit(err error) error {
	var ee exitError
	var fe *video.FrameError
	switch {
	case err == nil || errors.As(err, &ee):
		return err
	case errors.Is(err, media.ErrBadPrompt), errors.Is(err, media.ErrModelNotFound), errors.Is(err, video.ErrNotFound), errors.Is(err, video.ErrNotVideo),
		errors.Is(err, video.ErrNoVideoStream), errors.Is(err, video.ErrEmptyDir), errors.Is(err, video.ErrTooLarge),
		errors.Is(err, video.ErrBadURL), errors.Is(err, video.ErrNotSeekable), errors.Is(err, video.ErrStartPastEnd), errors.Is(err, inpaint.ErrMasksMismatch), errors.As(err, &fe) && fe.Problem != video.FrameDecode:
		return exitError{code: 2, err: err}
	}
	return err
}

// app is one invocation's context: its streams and environment.
type app struct {
	stdout, stderr io.Writer
	log            *slog.Logger
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a := &app{stdout: os.Stdout, stderr: os.Stderr}
	err := a.run(ctx, os.Args[1:])
	var ee exitError
	if errors.As(err, &ee) && ee.code == 0 {
		return // --help: the usage is printed
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "samtrack:", err)
		if errors.As(err, &ee) {
			os.Exit(ee.code)
		}
		os.Exit(1)
	}
}

func (a *app) run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(a.stderr, usage)
		return exitError{code: 2, err: errors.New("no command given")}
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "version", "--version":
		return a.version(ctx, rest)
	case "segment":
		return a.segment(ctx, rest)
	case "track":
		return a.track(ctx, rest)
	case "remove":
		return a.remove(ctx, rest)
	case "eval":
		return a.eval(ctx, rest)
	case "models":
		return a.models(ctx, rest)
	case "config":
		return a.configCmd(ctx, rest)
	case "serve":
		return a.serve(ctx, rest)
	case "worker":
		return a.worker(ctx, rest)
	case "help", "-h", "--help":
		fmt.Fprint(a.stdout, usage)
		return nil
	}
	fmt.Fprint(a.stderr, usage)
	return usageErr("unknown command %q", cmd)
}

// flagSet makes a subcommand's flag set with the common --config flag.
func flagSet(name string) (*pflag.FlagSet, *string) {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SortFlags = false
	cfg := fs.String("config", "", "configuration file (YAML; see configs/samtrack.yaml)")
	return fs, cfg
}

// parse parses flags, mapping errors to usage errors.
func (a *app) parse(fs *pflag.FlagSet, args []string) error {
	// pflag prints the usage on --help and on errors; help goes to stdout.
	var usageText bytes.Buffer
	fs.SetOutput(&usageText)
	err := fs.Parse(args)
	fs.SetOutput(a.stderr)
	if errors.Is(err, pflag.ErrHelp) {
		a.stdout.Write(usageText.Bytes())
		return exitError{code: 0, err: err}
	}
	a.stderr.Write(usageText.Bytes())
	if err != nil {
		return usageErr("%s: %v", fs.Name(), err)
	}
	return nil
}

// load reads the configuration with the given flag bindings and sets up
// logging from it.
func (a *app) load(file string, flags map[string]*pflag.Flag) (config.Config, error) {
	c, err := config.Load(config.Source{File: file, Flags: flags})
	if err != nil {
		return c, exitError{code: 2, err: err}
	}
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.Log.Level))
	opts := &slog.HandlerOptions{Level: lvl}
	if c.Log.Format == "json" {
		a.log = slog.New(slog.NewJSONHandler(a.stderr, opts))
	} else {
		a.log = slog.New(slog.NewTextHandler(a.stderr, opts))
	}
	// FFmpeg's own messages go through the same logger; its informational
	// chatter (encoder statistics) stays below warn.
	video.LogFFmpegTo(a.log, slog.LevelWarn)
	return c, nil
}

func (a *app) configCmd(_ context.Context, args []string) error {
	fs, cfgFile := flagSet("config")
	if err := a.parse(fs, args); err != nil {
		return err
	}
	switch fs.Arg(0) {
	case "keys":
		for _, k := range config.Keys() {
			fmt.Fprintf(a.stdout, "%-45s %s\n", k, config.EnvName(k))
		}
		return nil
	case "show":
		c, err := a.load(*cfgFile, nil)
		if err != nil {
			return err
		}
		// JSON shows an unset optional value (a nil pointer) as null.
		b, err := json.MarshalIndent(c, "", "  ")
		if err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "%s\n", b)
		return nil
	}
	return usageErr("config: want `keys` or `show`")
}
