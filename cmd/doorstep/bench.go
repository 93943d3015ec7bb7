package main

import (
	"context"
	"errors"
	"io"
)

// bench runs the benchmarks (doorstep bench ingest).
func bench(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	return errors.New("bench: not built yet")
}
