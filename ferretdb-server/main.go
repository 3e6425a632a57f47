// Command ferretdb-server runs FerretDB v1 (the MongoDB wire protocol over
// PostgreSQL, or SQLite) as a local stand-in for MongoDB in development and
// tests. No mongod can be installed on the build machines, and FerretDB's own
// cmd/ferretdb panics when built with `go install`, so we embed its library
// package instead.
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
	postgresURL := flag.String("postgresql-url", "", "PostgreSQL backend: postgres://user@host:port/db (the default store)")
	// There is deliberately no in-memory mode: FerretDB v1's SQLite "mode=memory"
	// deadlocks on updates. Tests use a throw-away directory instead.
	dataDir := flag.String("data-dir", "", "SQLite backend: directory for the SQLite files (the fallback store)")
	logLevel := flag.String("log-level", "error", "debug, info, warn or error")
	flag.Parse()

	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: parseLevel(*logLevel)}))

	config := &ferretdb.Config{Listener: ferretdb.ListenerConfig{TCP: *listen}, Logger: logger}
	var backend string
	switch {
	case *postgresURL != "" && *dataDir != "":
		fail(2, fmt.Errorf("give either -postgresql-url or -data-dir, not both"))
	case *postgresURL != "":
		config.Handler, config.PostgreSQLURL, backend = "postgresql", *postgresURL, "PostgreSQL"
	default:
		url, err := sqliteURL(*dataDir)
		if err != nil {
			fail(2, err)
		}
		config.Handler, config.SQLiteURL, backend = "sqlite", url, url
	}

	db, err := ferretdb.New(config)
	if err != nil {
		fail(1, err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if *postgresURL != "" {
		go mirrorIndexes(ctx, *postgresURL, logger)
	}

	fmt.Fprintf(os.Stderr, "ferretdb-server listening on %s (%s)\n", *listen, backend)
	if err := db.Run(ctx); err != nil {
		fail(1, err)
	}
}

func fail(code int, err error) {
	fmt.Fprintln(os.Stderr, "ferretdb-server:", err)
	os.Exit(code)
}

// sqliteURL builds the file: URI FerretDB expects: an existing directory with a trailing slash.
func sqliteURL(dataDir string) (string, error) {
	if dataDir == "" {
		return "", fmt.Errorf("-postgresql-url or -data-dir is required")
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
