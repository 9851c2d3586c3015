// Package logging builds the zap logger every program uses, from LOG_LEVEL
// and LOG_FORMAT.
package logging

import (
	"fmt"
	"io"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/cardissuer/seamcards/internal/config"
)

// Settings are the logging settings shared by all programs.
type Settings struct {
	Level  *string
	Format *string
}

// Register adds LOG_LEVEL and LOG_FORMAT to a config set.
func Register(s *config.Set) Settings {
	return Settings{
		Level:  s.OneOf("LOG_LEVEL", "info", []string{"debug", "info", "warn", "error"}, "log level"),
		Format: s.OneOf("LOG_FORMAT", "json", []string{"json", "console"}, "log format"),
	}
}

// New returns a logger writing to w at the configured level and format.
func (s Settings) New(w io.Writer) (*zap.Logger, error) {
	return New(w, *s.Level, *s.Format)
}

// New returns a logger writing to w. level is debug|info|warn|error, format
// json|console.
func New(w io.Writer, level, format string) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("log level: %w", err)
	}
	encCfg := zap.NewProductionEncoderConfig()
	encCfg.TimeKey = "ts"
	encCfg.EncodeTime = zapcore.ISO8601TimeEncoder
	var enc zapcore.Encoder
	switch format {
	case "json":
		enc = zapcore.NewJSONEncoder(encCfg)
	case "console":
		encCfg.EncodeLevel = zapcore.CapitalLevelEncoder
		enc = zapcore.NewConsoleEncoder(encCfg)
	default:
		return nil, fmt.Errorf("log format %q: want json or console", format)
	}
	core := zapcore.NewCore(enc, zapcore.Lock(zapcore.AddSync(w)), lvl)
	return zap.New(core, zap.AddCaller()), nil
}
