// Package logs builds the settler's slog logger from AFF_LOG_FORMAT.
package logs

import (
	"fmt"
	"io"
	"log/slog"
)

// FormatVar names the environment variable that selects the log format.
const FormatVar = "AFF_LOG_FORMAT"

// New returns a logger writing to w: JSON lines when format is "json" (for
// production), human-readable key=value text when it is "text" or empty.
// Any other value is an error naming the variable.
func New(w io.Writer, format string) (*slog.Logger, error) {
	opts := &slog.HandlerOptions{Level: slog.LevelInfo}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "", "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("%s: %q is not a log format (use json or text)", FormatVar, format)
	}
}
