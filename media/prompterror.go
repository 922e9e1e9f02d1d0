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

// marked is an error that also matches mark under errors.Is, while its
// message stays err's alone.
type marked struct{ err, mark error }

func (e marked) Error() string        { return e.err.Error() }
func (e marked) Unwrap() error        { return e.err }
func (e marked) Is(target error) bool { return target == e.mark }

// PromptErrorf formats an error (as fmt.Errorf, %w included) that is also
// ErrBadPrompt.
func PromptErrorf(format string, a ...any) error {
	return marked{fmt.Errorf(format, a...), ErrBadPrompt}
}

// ErrModelNotFound marks a model file or directory the user named (a SAM
// encoder or decoder, a propagator, an inpainting model) that is not there:
// errors.Is(err, ErrModelNotFound). Like ErrBadPrompt it is a mistake in
// what the command was given; the message is the wrapped error's alone.
var ErrModelNotFound = errors.New("model not found")

// ModelNotFoundf formats an error (as fmt.Errorf, %w included) that is also
// ErrModelNotFound.
func ModelNotFoundf(format string, a ...any) error {
	return marked{fmt.Errorf(format, a...), ErrModelNotFound}
}
