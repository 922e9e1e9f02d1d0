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
