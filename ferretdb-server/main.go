// Command ferretdb-server runs FerretDB v1 (the MongoDB wire protocol over SQLite)
// as a local stand-in for MongoDB in development and tests. No mongod can be
// installed on the build machines, and FerretDB's own cmd/ferretdb panics when
// built with `go install`, so we embed its library package instead.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:27017", "TCP address to listen on")
	// There is deliberately no in-memory mode: FerretDB v1's SQLite "mode=memory"
	// deadlocks on updates. Tests use a throw-away directory instead.
	dataDir := flag.String("data-dir", "", "directory for the SQLite files (required)")
	logLevel := flag.String("log-level", "error", "debug, info, warn or error")
	flag.Parse()

	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: parseLevel(*logLevel)}))

	sqliteURL, err := sqliteURL(*dataDir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ferretdb-server:", err)
		os.Exit(2)
	}

	db, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: *listen},
		Logger:    logger,
		Handler:   "sqlite",
		SQLiteURL: sqliteURL,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "ferretdb-server:", err)
		os.Exit(1)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	fmt.Fprintf(os.Stderr, "ferretdb-server listening on %s (%s)\n", *listen, sqliteURL)
	if err := db.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "ferretdb-server:", err)
		os.Exit(1)
	}
}

// sqliteURL builds the file: URI FerretDB expects: an existing directory with a trailing slash.
func sqliteURL(dataDir string) (string, error) {
	if dataDir == "" {
		return "", fmt.Errorf("-data-dir is required")
	}
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return "", err
	}
	return "file:" + abs + "/", nil
}

func parseLevel(s string) slog.Level {
	var level slog.Level
	if err := level.UnmarshalText([]byte(s)); err != nil {
		return slog.LevelWarn
	}
	return level
}
