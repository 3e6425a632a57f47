package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// FerretDB v1 pushes an equality filter down to PostgreSQL as
// `_jsonb->$1 @> $2`, but builds the MongoDB indexes as btree expression
// indexes, which `@>` cannot use: every find by `_id` or by an indexed field
// reads the whole table. mirrorIndexes closes that gap from outside FerretDB:
// for every field of every MongoDB index (and `_id`), it keeps a GIN
// `jsonb_path_ops` index on `(_jsonb->'field')`, which `@>` does use once the
// server plans with the parameter values (`plan_cache_mode=force_custom_plan`,
// set by whoever starts PostgreSQL). It only ever adds indexes; FerretDB's own
// drop of a collection or database drops them with the table.
const mirrorInterval = time.Second

const metadataTable = "_ferretdb_database_metadata"

func mirrorIndexes(ctx context.Context, url string, logger *slog.Logger) {
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		logger.Error("index mirror: cannot connect", "error", err)
		return
	}
	defer pool.Close()

	done := map[string]bool{}
	ticker := time.NewTicker(mirrorInterval)
	defer ticker.Stop()
	for {
		if err := mirrorOnce(ctx, pool, done, logger); err != nil && ctx.Err() == nil {
			// A database dropped mid-pass, or PostgreSQL restarting: the next pass tries again.
			logger.Debug("index mirror pass failed", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

type wanted struct{ schema, table, field string }

func mirrorOnce(ctx context.Context, pool *pgxpool.Pool, done map[string]bool, logger *slog.Logger) error {
	schemas, err := collect(ctx, pool, `SELECT table_schema FROM information_schema.tables WHERE table_name = $1`, metadataTable)
	if err != nil {
		return err
	}
	var todo []wanted
	for _, schema := range schemas {
		meta := pgx.Identifier{schema, metadataTable}.Sanitize()
		rows, err := pool.Query(ctx, `
			SELECT m._jsonb->>'table', '_id' FROM `+meta+` m
			UNION
			SELECT m._jsonb->>'table', k
			FROM `+meta+` m, jsonb_array_elements(m._jsonb->'indexes') i, jsonb_object_keys(i->'key') k
			WHERE k <> '$s' AND position('.' in k) = 0`)
		if err != nil {
			return err
		}
		for rows.Next() {
			w := wanted{schema: schema}
			if err := rows.Scan(&w.table, &w.field); err != nil {
				rows.Close()
				return err
			}
			todo = append(todo, w)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	for _, w := range todo {
		name := ginIndexName(w)
		if done[w.schema+"."+name] {
			continue
		}
		// The table is created lazily by FerretDB at the first insert; until then there is nothing to index.
		exists, err := collect(ctx, pool, `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 AND table_name = $2`, w.schema, w.table)
		if err != nil || len(exists) == 0 {
			continue
		}
		sql := `CREATE INDEX IF NOT EXISTS ` + pgx.Identifier{name}.Sanitize() + ` ON ` + pgx.Identifier{w.schema, w.table}.Sanitize() +
			` USING gin ((_jsonb -> ` + quoteLiteral(w.field) + `) jsonb_path_ops)`
		if _, err := pool.Exec(ctx, sql); err != nil {
			return err
		}
		done[w.schema+"."+name] = true
		logger.Debug("index mirror: GIN index ready", "schema", w.schema, "table", w.table, "field", w.field)
	}
	return nil
}

func collect(ctx context.Context, pool *pgxpool.Pool, sql string, args ...any) ([]string, error) {
	rows, err := pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// ginIndexName is unique per table and field and within PostgreSQL's 63-byte limit.
func ginIndexName(w wanted) string {
	sum := sha256.Sum256([]byte(w.table + "\x00" + w.field))
	return "prorata_gin_" + hex.EncodeToString(sum[:12])
}

func quoteLiteral(s string) string {
	out := []byte{'\''}
	for i := 0; i < len(s); i++ {
		if s[i] == '\'' {
			out = append(out, '\'')
		}
		out = append(out, s[i])
	}
	return string(append(out, '\''))
}
