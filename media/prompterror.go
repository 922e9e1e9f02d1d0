package media

import (
	"errors"
	"fmt"
)

// ErrBadPrompt marks an error in the prompts a user gave (a point or box
// outside the picture or not a number, an empty box, a mask of another size
// or that cannot be read, a prompt past the input's end), as opposed to a
// failure of the work: errors.Is(err, ErrBadPrompt). The command line exits
// with its usage code for it; the message is the wrapped error's alone.
var ErrBadPrompt = errors.New("bad prompt")

type promptError struct{ err error }

func (e promptError) Error() string        { return e.err.Error() }
func (e promptError) Unwrap() error        { return e.err }
func (e promptError) Is(target error) bool { return target == ErrBadPrompt }

// PromptErrorf formats an error (as fmt.Errorf, %w included) that is also
// ErrBadPrompt.
func PromptErrorf(format string, a ...any) error {
	return promptError{fmt.Errorf(format, a...)}
}

// ErrModelNotFound marks a model file or directory the user named (a SAM
// encoder or decoder, a propagator, an inpainting model) that is not there:
// errors.Is(err, ErrModelNotFound). Like ErrBadPrompt it is a mistake in
// what the command was given; the message is the wrapped error's alone.
var ErrModelNotFound = errors.New("model not found")

type modelError struct{ err error }

func (e modelError) Error() string        { return e.err.Error() }
func (e modelError) Unwrap() error        { return e.err }
func (e modelError) Is(target error) bool { return target == ErrModelNotFound }

// ModelNotFoundf formats an error (as fmt.Errorf, %w included) that is also
// ErrModelNotFound.
func ModelNotFoundf(format string, a ...any) error {
	return modelError{fmt.Errorf(format, a...)}
}
